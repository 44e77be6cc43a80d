package schema

import "fmt"

// SubjectStrategy names the registry subject a record's schema is registered
// under, as Confluent's serializers do. The zero value is [TopicName].
type SubjectStrategy int

// Subject-name strategies.
const (
	// TopicName: "<topic>-value". One record type per topic; a second type
	// on the same topic is refused by the compatibility gate.
	TopicName SubjectStrategy = iota
	// RecordName: "<record full name>". A type's schema evolves once for
	// every topic it is written to.
	RecordName
	// TopicRecordName: "<topic>-<record full name>". Several types per
	// topic, each evolving per topic.
	TopicRecordName
)

// Subject returns the subject for a value of record type recordFullName
// written to topic.
func (s SubjectStrategy) Subject(topic, recordFullName string) string {
	switch s {
	case RecordName:
		return recordFullName
	case TopicRecordName:
		return topic + "-" + recordFullName
	default:
		return topic + "-value"
	}
}

// String returns the strategy's name, e.g. "TopicName".
func (s SubjectStrategy) String() string {
	switch s {
	case TopicName:
		return "TopicName"
	case RecordName:
		return "RecordName"
	case TopicRecordName:
		return "TopicRecordName"
	}
	return fmt.Sprintf("SubjectStrategy(%d)", int(s))
}

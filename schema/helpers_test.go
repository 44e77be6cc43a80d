package schema

import "runtime"

// memStats returns the total bytes allocated so far.
func memStats() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.TotalAlloc)
}

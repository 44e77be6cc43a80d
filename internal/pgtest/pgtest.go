// Package pgtest starts a throwaway PostgreSQL server for tests: initdb
// into a temporary directory and pg_ctl start on 127.0.0.1 at a free port,
// trust authentication, durability settings left at PostgreSQL's
// defaults. It needs PostgreSQL's server binaries (Debian's
// postgresql-15: /usr/lib/postgresql/15/bin, or initdb on PATH) and no
// database driver, so the root module can hold it while the stores that
// use it live in nested modules.
//
// PostgreSQL refuses to run as root: run as root, the server runs as the
// user "postgres" (through runuser), which must exist. With
// ORDO_TEST_POSTGRES set to a connection URL, no server is started and
// that one is used.
package pgtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// EnvURL names the environment variable that points tests at a running
// server instead.
const EnvURL = "ORDO_TEST_POSTGRES"

// Server is a PostgreSQL server for tests.
type Server struct {
	URL  string // postgres://ordo@127.0.0.1:port/postgres?sslmode=disable
	dir  string // "" for a server pgtest did not start
	bin  string
	user string // "" to run as the current user
}

// Start starts a server, or returns the one [EnvURL] names. Stop it with
// [Server.Stop].
func Start() (*Server, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return &Server{URL: u}, nil
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("pgtest: PostgreSQL refuses to run as root and there is no user %q to run it as (%w): "+
				"create one (useradd --system postgres) or set %s to a server's URL", "postgres", err, EnvURL)
		}
		s.user = "postgres"
	}
	if s.dir, err = os.MkdirTemp("", "ordo-pg-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.start(); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	if s.user != "" {
		if out, err := exec.Command("chown", s.user, s.dir).CombinedOutput(); err != nil {
			return fmt.Errorf("pgtest: chown %s: %w: %s", s.dir, err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	if err := s.run("initdb", "-D", data, "-U", "ordo", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return err
	}
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c max_connections=200", port, s.dir)
	if err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("%w\nserver log:\n%s", err, log)
	}
	s.URL = fmt.Sprintf("postgres://ordo@127.0.0.1:%d/postgres?sslmode=disable", port)
	return nil
}

// run runs one of PostgreSQL's binaries, as s.user if set.
func (s *Server) run(name string, args ...string) error {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.user != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.user, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: %s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Stop stops a server Start started and removes its files; for a server
// named by EnvURL it does nothing.
func (s *Server) Stop() error {
	if s == nil || s.dir == "" {
		return nil
	}
	err := s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "stop")
	return errors.Join(err, os.RemoveAll(s.dir))
}

// binDir finds PostgreSQL's server binaries.
func binDir() (string, error) {
	for _, d := range []string{"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"} {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("pgtest: PostgreSQL's server binaries not found (install postgresql-15, or set %s): %w", EnvURL, err)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return filepath.Dir(p), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return strconv.Atoi(strings.TrimPrefix(l.Addr().String(), "127.0.0.1:"))
}

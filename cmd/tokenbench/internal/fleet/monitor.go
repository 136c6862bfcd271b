package fleet

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Monitor counts the commands Redis executes per client port with MONITOR
// on its own connection; commands run inside a script count for the
// client that sent the script.
type Monitor struct {
	conn net.Conn
	done chan struct{}

	mu     sync.Mutex // guards counts
	counts map[int]int64
}

func StartMonitor(ctx context.Context, redisURL string) (*Monitor, error) {
	u, err := url.Parse(redisURL)
	if err != nil {
		return nil, err
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if pw, ok := u.User.Password(); ok {
		fmt.Fprintf(conn, "AUTH %s %s\r\n", u.User.Username(), pw)
	}
	if _, err := fmt.Fprint(conn, "MONITOR\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	m := &Monitor{conn: conn, done: make(chan struct{}), counts: map[int]int64{}}
	go m.read()
	return m, nil
}

// read parses lines like `+1700000000.123456 [0 127.0.0.1:42476] "evalsha" ...`
// and `+... [0 lua] "get" ...`.
func (m *Monitor) read() {
	defer close(m.done)
	sc := bufio.NewScanner(m.conn)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	last := 0
	for sc.Scan() {
		line := sc.Text()
		i, j := strings.IndexByte(line, '['), strings.IndexByte(line, ']')
		if i < 0 || j < i {
			continue
		}
		_, who, _ := strings.Cut(line[i+1:j], " ")
		port := last
		if who != "lua" {
			_, p, _ := strings.Cut(who, ":")
			port, _ = strconv.Atoi(p)
			last = port
		}
		m.mu.Lock()
		m.counts[port]++
		m.mu.Unlock()
	}
}

// Stop ends the Monitor and returns the counts per client port.
func (m *Monitor) Stop() map[int]int64 {
	_ = m.conn.Close()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts
}

// Close ends the Monitor without collecting the counts.
func (m *Monitor) Close() { _ = m.conn.Close() }

// SocketOwners maps the local port of each replica's connections to Redis
// to the replica id, from /proc (Linux); empty where /proc is unreadable.
func SocketOwners(d *Deployment, redisURL string) map[int]string {
	owners := map[int]string{}
	u, err := url.Parse(redisURL)
	if err != nil {
		return owners
	}
	redisPort, _ := strconv.Atoi(u.Port())
	inodes := map[string]string{} // socket inode -> replica id
	for _, r := range d.Reps {
		if r.Proc == nil {
			continue
		}
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", r.Proc.Pid()))
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = r.ID
			}
		}
	}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 {
				continue
			}
			local, remote, inode := hexPort(fs[1]), hexPort(fs[2]), fs[9]
			if id, ok := inodes[inode]; ok && remote == redisPort {
				owners[local] = id
			}
		}
	}
	return owners
}

// hexPort is the port of a /proc/net/tcp address (ADDR:PORT in hex).
func hexPort(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.ParseInt(p, 16, 32)
	return int(n)
}

// PerReplica formats per-replica command rates (leader marked).
func PerReplica(d *Deployment, redisURL string, perPort map[int]int64, window time.Duration) string {
	owners := SocketOwners(d, redisURL)
	byReplica := map[string]int64{}
	for port, n := range perPort {
		id, ok := owners[port]
		if !ok {
			id = "other"
		}
		byReplica[id] += n
	}
	leaderID := ""
	if l, err := d.Fleet.Leader(context.Background()); err == nil {
		leaderID = l.ID
	}
	var parts []string
	for id, n := range byReplica {
		mark := ""
		if id == leaderID {
			mark = " (leader)"
		}
		parts = append(parts, fmt.Sprintf("%s%s %.1f/s", id, mark, float64(n)/window.Seconds()))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

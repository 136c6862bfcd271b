package redisserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/wait"
)

// StartReplica starts a redis-server replicating master (plus extra
// arguments) and waits until its link to the master is up. It sets the
// master's repl-diskless-sync-delay to 0 so the first sync starts at once.
func StartReplica(tb testing.TB, master *Server, extra ...string) *Server {
	tb.Helper()
	noSyncDelay(tb, master.Addr)
	host, port, _ := net.SplitHostPort(master.Addr)
	r := startReplicaOf(tb, host, port, extra...)
	WaitReplicasOnline(tb, master, 1)
	return r
}

// WaitReplicasOnline waits (up to 30s, so that a loaded machine passes)
// until master lists at least n replicas in state online. A replica's own
// "master_link_status:up" comes before that: WAIT on the master counts
// only online replicas.
func WaitReplicasOnline(tb testing.TB, master *Server, n int) {
	tb.Helper()
	wait.For(tb, 30*time.Second, fmt.Sprintf("%d online replicas of %s", n, master.Addr), func() bool {
		online := 0
		for i := 0; ; i++ {
			slave := infoField(master.Addr, "replication", fmt.Sprintf("slave%d", i))
			if slave == "" {
				break
			}
			if strings.Contains(slave, "state=online") {
				online++
			}
		}
		return online >= n
	})
}

func noSyncDelay(tb testing.TB, addr string) {
	tb.Helper()
	c := nodeClient(addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.ConfigSet(ctx, "repl-diskless-sync-delay", "0").Err(); err != nil {
		tb.Fatalf("redisserver: %s: %v", addr, err)
	}
}

func startReplicaOf(tb testing.TB, host, port string, extra ...string) *Server {
	tb.Helper()
	r := Start(tb, append([]string{"--replicaof", host, port}, extra...)...)
	wait.For(tb, 10*time.Second, "replica "+r.Addr+" link up", func() bool {
		return infoField(r.Addr, "replication", "master_link_status") == "up"
	})
	return r
}

// infoField returns one field of INFO section at addr, "" on any error.
func infoField(addr, section, field string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return v
		}
	}
	return ""
}

// Proc is a Redis process started with its own configuration file (a
// sentinel, a cluster node). Its methods are not safe for concurrent use.
type Proc struct {
	Addr string
	Port int
	Dir  string

	cmd  *exec.Cmd
	exit chan struct{}
}

// StartConf starts a redis-server whose configuration file holds conf
// (e.g. "aclfile /path/users.acl") besides port, bind, dir and logfile,
// without persistence unless conf turns it on. It counts as started once it
// answers at all: an error reply (NOAUTH when the default user needs a
// password) will do. It is stopped when the test ends.
func StartConf(tb testing.TB, conf string) *Proc {
	tb.Helper()
	return startProc(tb, "save \"\"\nappendonly no\n"+conf)
}

// startProc writes conf (with port, bind, dir and logfile added) to a file
// and runs redis-server on it with args after the file name, on a free
// port, retrying on a port race. It is stopped when the test ends.
func startProc(tb testing.TB, conf string, args ...string) *Proc {
	tb.Helper()
	bin := Binary(tb, "redis-server")
	p := &Proc{Dir: tb.TempDir()}
	var err error
	for range 5 {
		if p.Port, err = FreePort(); err != nil {
			continue
		}
		if err = p.start(bin, conf, args); err == nil {
			tb.Cleanup(p.Stop)
			return p
		}
	}
	tb.Fatalf("redisserver: start %v: %v", args, err)
	return nil
}

func (p *Proc) start(bin, conf string, args []string) error {
	p.Addr = "127.0.0.1:" + strconv.Itoa(p.Port)
	full := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n%s\n",
		p.Port, p.Dir, filepath.Join(p.Dir, "redis.log"), conf)
	file := filepath.Join(p.Dir, "redis.conf")
	if err := os.WriteFile(file, []byte(full), 0o600); err != nil {
		return err
	}
	p.cmd = exec.Command(bin, append([]string{file}, args...)...)
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exit = make(chan struct{})
	go func(c *exec.Cmd, exit chan struct{}) { _ = c.Wait(); close(exit) }(p.cmd, p.exit)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exit:
			return fmt.Errorf("exited at start: %s", p.LogTail())
		default:
		}
		if pingAddr(p.Addr) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Stop()
	return fmt.Errorf("did not answer within 5s: %s", p.LogTail())
}

// pingAddr is nil once addr answers PING, even with an error reply.
func pingAddr(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.Ping(ctx).Err()
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return nil
	}
	return err
}

// LogTail returns the last lines of the process's log.
func (p *Proc) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "redis.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}

// Stop kills the process (SIGKILL). Safe to call twice.
func (p *Proc) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exit
	p.cmd = nil
}

// SentinelOptions configures StartSentinels. Zero values take the defaults
// named.
type SentinelOptions struct {
	// MasterName is the monitored master's name. Default "tokend-master".
	MasterName string
	// DownAfter is down-after-milliseconds. Default 1s.
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout. Default 60s: it also delays the
	// sentinels' "fix" of a replica that replicates from another address
	// (ProxyReplication relies on that).
	FailoverTimeout time.Duration
	// ProxyReplication makes the replica replicate through a TCP proxy
	// (ReplProxy) so that CutReplication can partition it from the master
	// while clients and sentinels still reach both.
	ProxyReplication bool
	// Extra arguments for the master and the replica (e.g. "--min-replicas-to-write", "1").
	Extra []string
}

// Sentinels is a master, one replica and three sentinels (quorum 2), all on
// loopback.
type Sentinels struct {
	MasterName string
	Master     *Server
	Replica    *Server
	Sentinels  []*Proc
	// ReplProxy carries replication when ProxyReplication was set.
	ReplProxy *Proxy

	tb testing.TB
}

// StartSentinels starts the topology and waits until every sentinel knows
// the replica and the two other sentinels, so that an automatic failover can
// reach its quorum at once.
func StartSentinels(tb testing.TB, opts SentinelOptions) *Sentinels {
	tb.Helper()
	if opts.MasterName == "" {
		opts.MasterName = "tokend-master"
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = time.Second
	}
	if opts.FailoverTimeout == 0 {
		opts.FailoverTimeout = time.Minute
	}
	s := &Sentinels{MasterName: opts.MasterName, tb: tb}
	s.Master = Start(tb, opts.Extra...)
	if opts.ProxyReplication {
		noSyncDelay(tb, s.Master.Addr)
		s.ReplProxy = StartProxy(tb, s.Master.Addr)
		host, port, _ := net.SplitHostPort(s.ReplProxy.Addr)
		s.Replica = startReplicaOf(tb, host, port, opts.Extra...)
	} else {
		s.Replica = StartReplica(tb, s.Master, opts.Extra...)
	}
	conf := fmt.Sprintf("sentinel resolve-hostnames no\n"+
		"sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
		"sentinel down-after-milliseconds %[1]s %[3]d\n"+
		"sentinel failover-timeout %[1]s %[4]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		opts.MasterName, s.Master.Port, opts.DownAfter.Milliseconds(), opts.FailoverTimeout.Milliseconds())
	for range 3 {
		s.Sentinels = append(s.Sentinels, startProc(tb, conf, "--sentinel"))
	}
	wait.For(tb, 20*time.Second, "sentinels to discover each other and the replica", func() bool {
		for _, sp := range s.Sentinels {
			if sentinelCount(sp.Addr, "sentinels", opts.MasterName) < 2 ||
				sentinelCount(sp.Addr, "replicas", opts.MasterName) < 1 {
				return false
			}
		}
		return true
	})
	return s
}

func sentinelCount(addr, what, master string) int {
	c := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: 300 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var n []map[string]string
	var err error
	if what == "sentinels" {
		n, err = c.Sentinels(ctx, master).Result()
	} else {
		n, err = c.Replicas(ctx, master).Result()
	}
	if err != nil {
		return 0
	}
	return len(n)
}

// Addrs returns the sentinels' addresses.
func (s *Sentinels) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, p := range s.Sentinels {
		out[i] = p.Addr
	}
	return out
}

// MasterAddr asks the first answering sentinel for the master's address.
func (s *Sentinels) MasterAddr(ctx context.Context) (string, error) {
	var last error
	for _, p := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, DialTimeout: 300 * time.Millisecond, MaxRetries: -1})
		res, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
		_ = c.Close()
		if err == nil && len(res) == 2 {
			return net.JoinHostPort(res[0], res[1]), nil
		}
		last = err
	}
	return "", fmt.Errorf("redisserver: no sentinel named the master: %v", last)
}

// WaitNewMaster waits until every sentinel names a master other than old,
// that master answers as a master, and returns its address.
func (s *Sentinels) WaitNewMaster(timeout time.Duration, old string) string {
	s.tb.Helper()
	var addr string
	wait.For(s.tb, timeout, "sentinels to promote a new master", func() bool {
		for _, p := range s.Sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: p.Addr, DialTimeout: 300 * time.Millisecond, MaxRetries: -1})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			res, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
			cancel()
			_ = c.Close()
			if err != nil || len(res) != 2 || net.JoinHostPort(res[0], res[1]) == old {
				return false
			}
			addr = net.JoinHostPort(res[0], res[1])
		}
		return infoField(addr, "replication", "role") == "master"
	})
	return addr
}

// Failover runs SENTINEL FAILOVER on the first sentinel: a forced failover
// that needs no agreement.
func (s *Sentinels) Failover(ctx context.Context) error {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr, DialTimeout: time.Second})
	defer c.Close()
	return c.Failover(ctx, s.MasterName).Err()
}

// Proxy forwards TCP connections on a free loopback port to a target. Cut
// partitions it: bytes stop flowing both ways on every connection, but no
// connection is closed, as in a network partition. Its methods are safe for
// concurrent use.
type Proxy struct {
	Addr string

	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex // guards cut, closed and conns
	cut    bool
	closed bool
	conns  []net.Conn
}

// StartProxy starts a proxy to target, stopped when the test ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redisserver: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_, _ = in.Close(), out.Close()
			return
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies from -> to; while cut, what it reads is dropped.
func (p *Proxy) pipe(from, to net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.isCut() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				_ = to.Close()
			} else if tc, ok := to.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func (p *Proxy) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Cut partitions the proxy: from now on nothing is forwarded.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
	"github.com/tokend/tokend/store"
)

// aclUserName is a Redis ACL user name tokend prints: no spaces, nothing
// the ACL syntax reads specially.
var aclUserName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// aclTicketKind is a ticket kind tokend prints into a rule.
var aclTicketKind = regexp.MustCompile(`^[a-z_]{1,32}$`)

// aclUser is who the rule is for and what it allows beyond raw reads.
type aclUser struct {
	name    string
	pass    string // kept as its SHA-256; "": no password
	setuser bool   // an ACL SETUSER command instead of a users.acl line
	library bool   // the Go reader library's read script too (EVAL)
}

// runACL is `tokend acl -config FILE -app ID`: it prints the Redis ACL
// rule of a user that may read one app's token and tickets (raw GET, or
// the Go reader library) and report them invalid, and nothing else
// (aclRule). Only redis.prefix and the app's id and tickets are read from
// the file, so no secret needs to be at hand.
func runACL(args []string, getenv func(string) string, readFile func(string) ([]byte, error), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokend acl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default $TOKEND_CONFIG)")
	app := fs.String("app", "", "the app id whose reader the rule is for (required)")
	user := fs.String("user", "", "the Redis user name (default tokend-app-<app>)")
	passEnv := fs.String("password-env", "", "environment variable holding the user's password (the rule keeps its SHA-256); none: the user has no password until you add one")
	setuser := fs.Bool("setuser", false, "print an ACL SETUSER command (for redis-cli) instead of a users.acl line")
	library := fs.Bool("library", false, "also allow the Go reader library (its read script: EVAL/EVALSHA on the app's keys and meta hashes); default: raw GET readers only")
	if code, ok := parseFlags(fs, "usage: tokend acl -config FILE -app ID [-user NAME] [-password-env VAR] [-setuser] [-library]", stderr, args); !ok {
		return code
	}
	path := orDefault(*configPath, getenv("TOKEND_CONFIG"))
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "tokend acl: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	case path == "" || *app == "":
		fs.Usage()
		return exitConfig
	}
	name := orDefault(*user, "tokend-app-"+*app)
	if !aclUserName.MatchString(name) {
		fmt.Fprintln(stderr, "tokend acl: -user: want [A-Za-z0-9_.-]{1,128}")
		return exitConfig
	}
	var pass string
	if *passEnv != "" {
		if pass = getenv(*passEnv); strings.TrimSpace(pass) == "" {
			fmt.Fprintf(stderr, "tokend acl: -password-env: environment variable %s is unset or blank\n", *passEnv)
			return exitConfig
		}
	}
	keys, tickets, err := aclApp(path, *app, readFile)
	if err != nil {
		fmt.Fprintf(stderr, "tokend acl: %v\n", err)
		return exitConfig
	}
	fmt.Fprintln(stdout, aclRule(keys, aclUser{name: name, pass: pass, setuser: *setuser, library: *library}, *app, tickets))
	if pass == "" {
		fmt.Fprintln(stderr, "tokend acl: no -password-env: the user has no password and cannot log in until you add one (>password or #sha256)")
	}
	return exitOK
}

// aclApp reads the key layout and app's ticket kinds from the config file
// at path, strictly (unknown fields are errors) but without resolving any
// secret.
func aclApp(path, app string, readFile func(string) ([]byte, error)) (store.Keys, []string, error) {
	data, err := config.Read(path, readFile)
	if err != nil {
		return store.Keys{}, nil, err
	}
	cfg, err := config.Decode(data)
	if err != nil {
		return store.Keys{}, nil, err
	}
	keys, err := cfg.Keys()
	if err != nil {
		return store.Keys{}, nil, err
	}
	for i, a := range cfg.Apps {
		if a.ID != app || !store.ValidApp(app) {
			continue
		}
		// The kinds become key names in the printed rule: a kind the
		// daemon would refuse (a space, "~*") must not widen it.
		for j, k := range a.Tickets {
			if !aclTicketKind.MatchString(k) {
				return store.Keys{}, nil, config.Errorf(fmt.Sprintf("apps[%d].tickets[%d]", i, j), "want a ticket kind [a-z_]{1,32}, got %q", k)
			}
		}
		return keys, a.Tickets, nil
	}
	return store.Keys{}, nil, fmt.Errorf("-app: %q is not an app of %s", app, path)
}

// aclRule is the ACL rule of u for a reader of app and its tickets
// (DESIGN "Clients", README "Per-app Redis users"). A raw reader gets
// read-only access (%R~) to the app's and each ticket's token key with
// GET; a selector granting only HSET on the shared reports hash (a report,
// as store.Records.Report writes it in MULTI/EXEC with a PUBLISH);
// PUBLISH and SUBSCRIBE on the events channel (app ids and versions,
// never a value). With u.library, the meta hashes and the commands of the
// Go reader library's read script too (PTTL, HMGET, TIME, EVAL/EVALSHA):
// EVAL needs full key permission, so those keys are ~ (no write command is
// granted on them, and commands inside a script are checked against the
// same rules), and EVAL lets the user run a long Lua script that blocks
// Redis (BUSY) until an admin's SCRIPT KILL: grant it only to readers you
// would trust with a Redis connection anyway. Everything else is refused:
// other apps' keys, the lease, the status and budget keys, every other
// command. The rule is one users.acl line, or an ACL SETUSER command.
func aclRule(keys store.Keys, u aclUser, app string, tickets []string) string {
	creds := []string{app}
	for _, k := range tickets {
		creds = append(creds, app+":"+k)
	}
	var b strings.Builder
	if u.setuser {
		fmt.Fprintf(&b, "ACL SETUSER %s reset on", u.name)
	} else {
		fmt.Fprintf(&b, "user %s on", u.name)
	}
	if u.pass != "" {
		sum := sha256.Sum256([]byte(u.pass))
		fmt.Fprintf(&b, " #%s", hex.EncodeToString(sum[:]))
	}
	b.WriteString(" resetkeys")
	for _, c := range creds {
		if u.library {
			fmt.Fprintf(&b, " ~%s ~%s", keys.Token(c), keys.Meta(c))
		} else {
			fmt.Fprintf(&b, " %%R~%s", keys.Token(c))
		}
	}
	fmt.Fprintf(&b, " resetchannels &%s", keys.Events())
	b.WriteString(" -@all +ping +hello +get +publish +subscribe +unsubscribe +multi +exec +discard")
	if u.library {
		b.WriteString(" +pttl +hmget +time +eval +evalsha")
	}
	fmt.Fprintf(&b, " (%%W~%s +hset)", keys.Reports())
	return b.String()
}

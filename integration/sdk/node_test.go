package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeDir holds the Node SDKs (package.json, package-lock.json; `npm ci`
// installs them) and run.js, which drives them.
const nodeDir = "node"

// nodeInstance configures one instance of run.js.
type nodeInstance struct {
	Name    string `json:"name"`
	SDK     string `json:"sdk"` // co-wechat-api or wechat-jssdk
	AppID   string `json:"appid"`
	Secret  string `json:"secret"`
	Router  string `json:"router"`
	RenewMs int64  `json:"renewMs,omitempty"`
	SignURL string `json:"signURL,omitempty"`
	Bearer  string `json:"bearer,omitempty"`
}

// nodeResult is what run.js counted for one instance.
type nodeResult struct {
	Name                string         `json:"name"`
	Calls               int            `json:"calls"`
	Failed              int            `json:"failed"`
	TicketCalls         int            `json:"ticketCalls"`
	TicketFailed        int            `json:"ticketFailed"`
	Signatures          int            `json:"signatures"`
	SignatureMismatches int            `json:"signatureMismatches"`
	FirstMismatch       any            `json:"firstMismatch"`
	Codes               map[string]int `json:"codes"`
	Crashed             string         `json:"crashed"`
}

// requireNode returns the node binary, or skips the test when node or the
// installed SDKs are missing (fails instead when CI is set: a CI run must
// never pass without the Node SDKs).
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(nodeDir, "node_modules", "co-wechat-api", "package.json"))
	}
	if err == nil {
		_, err = os.Stat(filepath.Join(nodeDir, "node_modules", "wechat-jssdk", "package.json"))
	}
	if err != nil {
		msg := fmt.Sprintf("sdk: node or the Node SDKs are missing (%v): run `npm ci` in integration/sdk/node", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// runNode runs run.js with instances for d and returns its counts.
func runNode(ctx context.Context, node string, instances []nodeInstance, d, pause time.Duration) ([]nodeResult, error) {
	cfg, _ := json.Marshal(map[string]any{"durationMs": d.Milliseconds(), "pauseMs": pause.Milliseconds(), "instances": instances})
	f, err := os.CreateTemp("", "sdk-node-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(cfg); err != nil {
		return nil, err
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.js", f.Name())
	cmd.Dir = nodeDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node run.js: %w\n%s", err, stderr.Bytes())
	}
	var out struct {
		Instances []nodeResult `json:"instances"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("node run.js: %w: %s\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return out.Instances, nil
}

// Command fakekubelet runs the kubelet's plugin manager (k8s.io/kubernetes/pkg/kubelet/pluginmanager)
// on its own, without a container runtime or an API server. It watches a plugin-registration
// directory exactly as the kubelet does (fsnotify watcher, reconciler with retries and backoff,
// GetInfo and NotifyRegistrationStatus over each registration socket) and plugs in a CSI handler of
// its own that validates the reported versions with the same helper the kubelet's CSI handler uses.
//
// Every handler call is printed to stdout as one JSON object per line:
//
//	{"event":"started","dir":"..."}
//	{"event":"registered","name":"...","endpoint":"...","versions":["1.0.0"],"highestVersion":"1.0.0"}
//	{"event":"rejected","stage":"validate","name":"...","endpoint":"...","versions":[...],"reason":"..."}
//	{"event":"deregistered","name":"...","endpoint":"..."}
//
// A rejection makes the plugin manager send NotifyRegistrationStatus(plugin_registered=false,
// error=<reason wrapped by the kubelet>) and retry later with exponential backoff, as the kubelet does.
// Diagnostics (klog) go to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/apimachinery/pkg/util/sets"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	"k8s.io/kubernetes/pkg/kubelet/config"
	"k8s.io/kubernetes/pkg/kubelet/pluginmanager"
)

// event is one line of output. Empty fields are omitted.
type event struct {
	Event          string            `json:"event"`
	Time           string            `json:"time"`
	Dir            string            `json:"dir,omitempty"`
	Stage          string            `json:"stage,omitempty"`
	Name           string            `json:"name,omitempty"`
	Endpoint       string            `json:"endpoint,omitempty"`
	Versions       []string          `json:"versions,omitempty"`
	HighestVersion string            `json:"highestVersion,omitempty"`
	Reason         string            `json:"reason,omitempty"`
	NodeID         string            `json:"nodeId,omitempty"`
	MaxVolumes     int64             `json:"maxVolumesPerNode,omitempty"`
	Topology       map[string]string `json:"accessibleTopology,omitempty"`
}

type printer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *printer) emit(e event) {
	e.Time = time.Now().UTC().Format(time.RFC3339Nano)
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(e) // Encode appends the newline; stdout is unbuffered.
}

// csiHandler implements cache.PluginHandler for plugin type "CSIPlugin".
type csiHandler struct {
	out         *printer
	reject      sets.Set[string]
	nodeGetInfo bool
	timeout     time.Duration

	mu      sync.Mutex
	drivers map[string]*utilversion.Version // registered driver name -> highest version
}

func (h *csiHandler) check(name string, versions []string) (*utilversion.Version, error) {
	if h.reject.Has(name) {
		return nil, fmt.Errorf("driver %q rejected by fakekubelet --reject", name)
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("CSI driver %q reported an empty list of supported versions", name)
	}
	// The kubelet accepts any 1.x version and picks the highest one.
	highest, err := utilversion.HighestSupportedVersion(versions)
	if err != nil {
		return nil, fmt.Errorf("CSI driver %q: none of the versions %q is supported: %v", name, versions, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.drivers[name]; ok && !prev.LessThan(highest) {
		return nil, fmt.Errorf("CSI driver %q is already registered with version %s, not lower than %s", name, prev, highest)
	}
	return highest, nil
}

func (h *csiHandler) ValidatePlugin(name, endpoint string, versions []string) error {
	if _, err := h.check(name, versions); err != nil {
		h.out.emit(event{Event: "rejected", Stage: "validate", Name: name, Endpoint: endpoint, Versions: versions, Reason: err.Error()})
		return err
	}
	return nil
}

func (h *csiHandler) RegisterPlugin(name, endpoint string, versions []string, clientTimeout *time.Duration) error {
	highest, err := h.check(name, versions)
	if err != nil {
		h.out.emit(event{Event: "rejected", Stage: "register", Name: name, Endpoint: endpoint, Versions: versions, Reason: err.Error()})
		return err
	}
	ev := event{Event: "registered", Name: name, Endpoint: endpoint, Versions: versions, HighestVersion: highest.String()}
	if h.nodeGetInfo {
		timeout := h.timeout
		if clientTimeout != nil {
			timeout = *clientTimeout
		}
		info, err := callNodeGetInfo(endpoint, timeout)
		if err != nil {
			h.out.emit(event{Event: "rejected", Stage: "nodegetinfo", Name: name, Endpoint: endpoint, Versions: versions, Reason: err.Error()})
			return err
		}
		ev.NodeID = info.GetNodeId()
		ev.MaxVolumes = info.GetMaxVolumesPerNode()
		ev.Topology = info.GetAccessibleTopology().GetSegments()
	}
	h.mu.Lock()
	h.drivers[name] = highest
	h.mu.Unlock()
	h.out.emit(ev)
	return nil
}

func (h *csiHandler) DeRegisterPlugin(name, endpoint string) {
	h.mu.Lock()
	delete(h.drivers, name)
	h.mu.Unlock()
	h.out.emit(event{Event: "deregistered", Name: name, Endpoint: endpoint})
}

// callNodeGetInfo asks the driver behind endpoint (a unix socket path, optionally with a unix://
// prefix) for its node information, as the kubelet does while registering a CSI driver.
func callNodeGetInfo(endpoint string, timeout time.Duration) (*csi.NodeGetInfoResponse, error) {
	target := endpoint
	if !strings.Contains(target, "://") && !strings.HasPrefix(target, "unix:") {
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", endpoint, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := csi.NewNodeClient(conn).NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("NodeGetInfo on %s: %w", endpoint, err)
	}
	if resp.GetNodeId() == "" {
		return nil, errors.New("NodeGetInfo returned an empty node ID")
	}
	return resp, nil
}

func k8sVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/kubernetes" {
				return d.Version
			}
		}
	}
	return "unknown"
}

func main() {
	klog.InitFlags(nil)
	dir := flag.String("plugin-dir", "", "plugin registration directory to watch (the kubelet's <root-dir>/plugins_registry); created if missing")
	var reject stringList
	flag.Var(&reject, "reject", "driver name whose registration is refused (NotifyRegistrationStatus false); repeatable or comma-separated")
	nodeGetInfo := flag.Bool("node-get-info", false, "call NodeGetInfo on the driver endpoint during registration, as the kubelet does; failure refuses the registration")
	timeout := flag.Duration("node-get-info-timeout", 2*time.Minute, "timeout of the NodeGetInfo call (the kubelet uses 2m)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Printf("fakekubelet (k8s.io/kubernetes %s pluginmanager)\n", k8sVersion())
		return
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "fakekubelet: --plugin-dir is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		fmt.Fprintf(os.Stderr, "fakekubelet: %v\n", err)
		os.Exit(1)
	}

	out := &printer{enc: json.NewEncoder(os.Stdout)}
	h := &csiHandler{
		out:         out,
		reject:      sets.New[string](reject...),
		nodeGetInfo: *nodeGetInfo,
		timeout:     *timeout,
		drivers:     map[string]*utilversion.Version{},
	}

	pm := pluginmanager.NewPluginManager(*dir, &record.FakeRecorder{})
	pm.AddHandler(registerapi.CSIPlugin, h)

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	stopCh := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		pm.Run(ctx, config.NewSourcesReady(func(sets.Set[string]) bool { return true }), stopCh)
	}()
	out.emit(event{Event: "started", Dir: *dir})

	<-ctx.Done()
	close(stopCh)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	out.emit(event{Event: "stopped"})
}

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

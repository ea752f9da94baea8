// Command mockdriver serves the CSI mock driver that Kubernetes' own storage e2e tests use
// (k8s.io/kubernetes/test/e2e/storage/drivers/csi-test/mock/service, an in-memory Identity,
// Controller and Node service) on a unix socket. It is a second real CSI driver next to
// hostpathplugin: no state on disk, every call logged as a JSON "gRPCCall:" line on stderr at -v=3,
// and switches for attach, attach limits, topology and expansion behaviour.
//
// The mock reports one fixed topology segment and has no fault hooks, so two switches of our own
// sit in a gRPC interceptor in front of it: --topology-from-request (a new volume is accessible
// from the first topology the request prefers, as a real zonal driver would answer) and
// --exhausted-topology (CreateVolume for that topology fails with ResourceExhausted, so that
// rescheduling can be exercised).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/test/e2e/storage/drivers/csi-test/driver"
	"k8s.io/kubernetes/test/e2e/storage/drivers/csi-test/mock/service"
)

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
	endpoint := flag.String("endpoint", "", "unix socket to serve on: unix:///path/csi.sock or /path/csi.sock (a stale socket is removed)")
	cfg := service.Config{}
	flag.StringVar(&cfg.DriverName, "drivername", "io.kubernetes.storage.mock", "CSI driver name (GetPluginInfo); the mock also uses it as its node ID")
	flag.BoolVar(&cfg.DisableAttach, "disable-attach", false, "do not advertise PUBLISH_UNPUBLISH_VOLUME")
	flag.Int64Var(&cfg.AttachLimit, "attach-limit", 0, "max_volumes_per_node reported by NodeGetInfo (0 = unset)")
	flag.BoolVar(&cfg.NodeExpansionRequired, "node-expansion-required", false, "advertise EXPAND_VOLUME on the node service")
	flag.BoolVar(&cfg.NodeVolumeConditionRequired, "node-volume-condition", false, "advertise VOLUME_CONDITION on the node service")
	flag.BoolVar(&cfg.VolumeMountGroupRequired, "volume-mount-group", false, "advertise VOLUME_MOUNT_GROUP on the node service")
	flag.BoolVar(&cfg.DisableControllerExpansion, "disable-controller-expansion", false, "do not advertise EXPAND_VOLUME on the controller service")
	flag.BoolVar(&cfg.DisableOnlineExpansion, "disable-online-expansion", false, "advertise OFFLINE instead of ONLINE volume expansion")
	flag.BoolVar(&cfg.PermissiveTargetPath, "permissive-target-path", false, "let NodePublish accept a target path whose parent does not exist")
	flag.BoolVar(&cfg.EnableTopology, "enable-topology", false, "advertise VOLUME_ACCESSIBILITY_CONSTRAINTS and report topology")
	faults := topologyFaults{exhausted: map[string]string{}}
	flag.BoolVar(&faults.fromRequest, "topology-from-request", false, "a created volume is accessible from the first preferred (else requisite) topology of its request")
	flag.Func("exhausted-topology", "key=value: CreateVolume whose first preferred (else requisite) topology has this segment fails with ResourceExhausted (repeatable)", faults.addExhausted)
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Printf("mockdriver %s (k8s.io/kubernetes %s csi-test mock)\n", service.VendorVersion, k8sVersion())
		return
	}
	path := strings.TrimPrefix(strings.TrimPrefix(*endpoint, "unix://"), "unix:")
	if path == "" {
		fmt.Fprintln(os.Stderr, "mockdriver: --endpoint is required")
		os.Exit(2)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		fmt.Fprintf(os.Stderr, "mockdriver: removing stale socket: %v\n", err)
		os.Exit(1)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mockdriver: %v\n", err)
		os.Exit(1)
	}
	svc := service.New(cfg)
	d := driver.NewCSIDriver(&driver.CSIDriverServers{Controller: svc, Identity: svc, Node: svc})
	if err := d.Start(l, faults.intercept); err != nil {
		fmt.Fprintf(os.Stderr, "mockdriver: %v\n", err)
		os.Exit(1)
	}
	klog.Infof("mockdriver %q listening on %s", cfg.DriverName, path)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	d.Stop()
	_ = os.Remove(path)
}

// topologyFaults implements --topology-from-request and --exhausted-topology.
type topologyFaults struct {
	fromRequest bool
	exhausted   map[string]string
}

func (f *topologyFaults) addExhausted(v string) error {
	key, value, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	f.exhausted[key] = value
	return nil
}

func firstTopology(req *csi.TopologyRequirement) *csi.Topology {
	if p := req.GetPreferred(); len(p) > 0 {
		return p[0]
	}
	if r := req.GetRequisite(); len(r) > 0 {
		return r[0]
	}
	return nil
}

// intercept applies the topology switches to CreateVolume and logs every call. Handing the driver an
// interceptor replaces its own, which wrote the "gRPCCall:" lines, so the same JSON line is written here.
func (f *topologyFaults) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := f.handle(ctx, req, handler)
	logCall(info.FullMethod, req, resp, err)
	return resp, err
}

func (f *topologyFaults) handle(ctx context.Context, req any, handler grpc.UnaryHandler) (any, error) {
	create, ok := req.(*csi.CreateVolumeRequest)
	if !ok {
		return handler(ctx, req)
	}
	wanted := firstTopology(create.GetAccessibilityRequirements())
	for key, value := range f.exhausted {
		if wanted != nil && wanted.GetSegments()[key] == value {
			return nil, status.Errorf(codes.ResourceExhausted, "no capacity left where %s=%s", key, value)
		}
	}
	resp, err := handler(ctx, req)
	if err == nil && f.fromRequest && wanted != nil {
		resp.(*csi.CreateVolumeResponse).Volume.AccessibleTopology = []*csi.Topology{wanted}
	}
	return resp, err
}

// logCall writes the "gRPCCall: {json}" line (Method, Request, Response, Error, FullError) at -v=3 that
// Kubernetes' mock-driver tests parse.
func logCall(method string, req, resp any, err error) {
	line := struct {
		Method    string
		Request   any
		Response  any
		Error     string
		FullError error
	}{Method: method, Request: req, Response: resp, FullError: err}
	if err != nil {
		line.Error = err.Error()
	}
	text, _ := json.Marshal(line)
	klog.V(3).Infof("gRPCCall: %s\n", text)
}

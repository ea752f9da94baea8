// Command hollownode runs a hollow kubelet — the real kubelet of k8s.io/kubernetes with a fake container
// runtime, fake cAdvisor and stub container manager, built by k8s.io/kubernetes/pkg/kubemark — like
// `kubemark --morph=kubelet`, with one difference: controller-managed attach/detach is on by default.
//
// kubemark switches it off in the configuration it builds. A v1.36 kubelet does not attach CSI volumes
// itself, so with kubemark a pod with a CSI volume that needs attaching never gets past the volume
// manager: the kubelet neither stages nor publishes. With it on, the kubelet registers its Node with the
// volumes.kubernetes.io/controller-managed-attach-detach annotation, leaves attaching to
// kube-controller-manager (VolumeAttachments, attached by a CSI attacher), waits for the attachment and
// then calls NodeStageVolume / NodePublishVolume on the driver, and the unpublish/unstage calls when the
// pod goes — as a kubelet in a real cluster does.
//
// The flags the e2e fixture passes to kubemark are accepted with the same meaning (--morph only takes
// "kubelet"). Like kubemark, the kubelet's root dir is a fresh /tmp/hollow-kubelet.<random>, named in
// the log line "Using <dir> as root dir for hollow-kubelet", and the fake runtime listens on
// /tmp/kubelet_remote_<random>.sock. The kubelet's own mounter is a fake: mounts are the CSI driver's.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	clientset "k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/version"
	internalapi "k8s.io/cri-api/pkg/apis"
	criclient "k8s.io/cri-client/pkg"
	fakecri "k8s.io/cri-client/pkg/fake"
	"k8s.io/klog/v2"
	cadvisortest "k8s.io/kubernetes/pkg/kubelet/cadvisor/testing"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	"k8s.io/kubernetes/pkg/kubemark"
)

// criConnectTimeout is how long the CRI clients wait for the (fake) runtime, as in kubemark.
const criConnectTimeout = 15 * time.Second

type config struct {
	kubeconfig          string
	name                string
	kubeletPort         int
	readOnlyPort        int
	maxPods             int
	qps                 float64
	burst               int
	contentType         string
	hostImageService    bool
	controllerAttach    bool
	nodeStatusFrequency time.Duration
}

func main() {
	klog.InitFlags(nil)
	var c config
	morph := flag.String("morph", "kubelet", `what to run; only "kubelet" (accepted for command-line compatibility with kubemark)`)
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig of the kubelet's API client (required)")
	flag.StringVar(&c.name, "name", "fake-node", "node name")
	flag.IntVar(&c.kubeletPort, "kubelet-port", 10250, "port of the kubelet's HTTPS server")
	flag.IntVar(&c.readOnlyPort, "kubelet-read-only-port", 10255, "port of the kubelet's read-only HTTP server (0: off)")
	flag.IntVar(&c.maxPods, "max-pods", 110, "pods the node can run")
	flag.Float64Var(&c.qps, "kube-api-qps", 10, "API client QPS")
	flag.IntVar(&c.burst, "kube-api-burst", 20, "API client burst")
	flag.StringVar(&c.contentType, "kube-api-content-type", "application/vnd.kubernetes.protobuf", "content type of API requests")
	flag.BoolVar(&c.hostImageService, "use-host-image-service", false, "use the host's containerd image service instead of the fake runtime's (kubemark's default is true)")
	flag.BoolVar(&c.controllerAttach, "enable-controller-attach-detach", true, "leave attach/detach to kube-controller-manager (false: kubemark's behaviour)")
	flag.DurationVar(&c.nodeStatusFrequency, "node-status-update-frequency", 0, "how often the kubelet posts the node status (0: kubemark's 10s)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Printf("hollownode %s (k8s.io/kubernetes/pkg/kubemark hollow kubelet)\n", version.Get().GitVersion)
		return
	}
	if *morph != "kubelet" {
		fmt.Fprintf(os.Stderr, "hollownode: --morph=%s: only kubelet is supported\n", *morph)
		os.Exit(2)
	}
	if c.kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "hollownode: --kubeconfig is required")
		os.Exit(2)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, c); err != nil {
		fmt.Fprintf(os.Stderr, "hollownode: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	klog.InfoS("Starting hollow node", "version", version.Get().GitVersion, "node", c.name, "controllerAttachDetach", c.controllerAttach)
	restConfig, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return fmt.Errorf("loading %s: %w", c.kubeconfig, err)
	}
	restConfig.ContentType = c.contentType
	restConfig.QPS = float32(c.qps)
	restConfig.Burst = c.burst
	restConfig.UserAgent = "hollow-kubelet"
	client, err := clientset.NewForConfig(restConfig)
	if err != nil {
		return err
	}

	flags, kubeletConfig := kubemark.GetHollowKubeletConfig(&kubemark.HollowKubeletOptions{
		NodeName:            c.name,
		KubeletPort:         c.kubeletPort,
		KubeletReadOnlyPort: c.readOnlyPort,
		MaxPods:             c.maxPods,
		NodeLabels:          map[string]string{},
	})
	// The reason this program exists.
	kubeletConfig.EnableControllerAttachDetach = c.controllerAttach
	if c.nodeStatusFrequency > 0 {
		kubeletConfig.NodeStatusUpdateFrequency.Duration = c.nodeStatusFrequency
	}

	// Node status and lease updates get a client of their own without rate limit, and a timeout no longer
	// than either period, as the kubelet sets it up.
	heartbeatConfig := restclient.CopyConfig(restConfig)
	heartbeatConfig.QPS = -1
	heartbeatConfig.Timeout = min(kubeletConfig.NodeStatusUpdateFrequency.Duration,
		time.Duration(kubeletConfig.NodeLeaseDurationSeconds)*time.Second)
	heartbeatClient, err := clientset.NewForConfig(heartbeatConfig)
	if err != nil {
		return err
	}

	criEndpoint, err := fakecri.GenerateEndpoint()
	if err != nil {
		return fmt.Errorf("fake CRI endpoint: %w", err)
	}
	runtime := fakecri.NewFakeRemoteRuntime()
	if err := runtime.Start(criEndpoint); err != nil {
		return fmt.Errorf("starting the fake CRI runtime on %s: %w", criEndpoint, err)
	}
	defer runtime.Stop()
	tracing := noop.NewTracerProvider()
	runtimeService, err := criclient.NewRemoteRuntimeService(ctx, criEndpoint, criConnectTimeout, tracing, false)
	if err != nil {
		return fmt.Errorf("CRI runtime client: %w", err)
	}
	var imageService internalapi.ImageManagerService = runtime.ImageService
	if c.hostImageService {
		if imageService, err = criclient.NewRemoteImageService(ctx, kubeletConfig.ImageServiceEndpoint, criConnectTimeout, tracing, false); err != nil {
			return fmt.Errorf("CRI image client: %w", err)
		}
	}

	hollow := kubemark.NewHollowKubelet(flags, kubeletConfig, client, heartbeatClient,
		&cadvisortest.Fake{NodeName: c.name}, imageService, runtimeService, cm.NewStubContainerManager())
	// Run blocks for good (it exits the process on a start-up error), so the signal ends the program here.
	go hollow.Run(ctx)
	<-ctx.Done()
	klog.InfoS("Stopping hollow node", "node", c.name)
	klog.Flush()
	return nil
}

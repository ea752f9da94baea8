// Command fakeregistrar serves the kubelet plugin-registration API (k8s.io/kubelet
// pluginregistration v1) on a unix socket, the way node-driver-registrar does, so fakekubelet and
// a kubemark hollow kubelet can be checked without the TypeScript registrar. It answers GetInfo with
// the configured values and prints every NotifyRegistrationStatus call to stdout as a JSON line:
//
//	{"event":"notify","registered":true}
//	{"event":"notify","registered":false,"error":"..."}
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type server struct {
	registerapi.UnimplementedRegistrationServer
	info *registerapi.PluginInfo
	mu   sync.Mutex
	enc  *json.Encoder
}

func (s *server) emit(v map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.enc.Encode(v)
}

func (s *server) GetInfo(ctx context.Context, _ *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	s.emit(map[string]any{"event": "getinfo"})
	return s.info, nil
}

func (s *server) NotifyRegistrationStatus(ctx context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	ev := map[string]any{"event": "notify", "registered": st.PluginRegistered}
	if st.Error != "" {
		ev["error"] = st.Error
	}
	s.emit(ev)
	return &registerapi.RegistrationStatusResponse{}, nil
}

func main() {
	socket := flag.String("socket", "", "registration socket to create, e.g. <plugins_registry>/<driver>-reg.sock")
	name := flag.String("name", "", "driver name reported by GetInfo")
	endpoint := flag.String("endpoint", "", "driver endpoint reported by GetInfo (empty: the kubelet uses the registration socket path)")
	versions := flag.String("versions", "1.0.0", "comma-separated supported versions reported by GetInfo (empty string: none)")
	typ := flag.String("type", registerapi.CSIPlugin, "plugin type reported by GetInfo")
	flag.Parse()
	if *socket == "" || *name == "" {
		fmt.Fprintln(os.Stderr, "fakeregistrar: --socket and --name are required")
		os.Exit(2)
	}
	var vs []string
	for _, v := range strings.Split(*versions, ",") {
		if v = strings.TrimSpace(v); v != "" {
			vs = append(vs, v)
		}
	}
	_ = os.Remove(*socket)
	l, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeregistrar: %v\n", err)
		os.Exit(1)
	}
	s := &server{
		info: &registerapi.PluginInfo{Type: *typ, Name: *name, Endpoint: *endpoint, SupportedVersions: vs},
		enc:  json.NewEncoder(os.Stdout),
	}
	g := grpc.NewServer()
	registerapi.RegisterRegistrationServer(g, s)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		g.Stop()
	}()
	s.emit(map[string]any{"event": "listening", "socket": *socket})
	if err := g.Serve(l); err != nil {
		fmt.Fprintf(os.Stderr, "fakeregistrar: %v\n", err)
	}
	_ = os.Remove(*socket)
}

// Package devserver embeds a Temporal server (SQLite file or memory) and the Temporal Web UI in this process, the
// way `temporal server start-dev` does, for the dev command and for tests. Production talks to a real cluster.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options for an embedded server.
type Options struct {
	// DatabaseFile persists the server's state; empty keeps it in memory (tests).
	DatabaseFile string
	// Host the frontend and UI bind to (default 127.0.0.1).
	Host string
	// FrontendPort of the gRPC frontend (0: any free port).
	FrontendPort int
	// UIListener is where the Web UI answers (open, so no other process can take its port); nil disables the UI.
	UIListener net.Listener
	// UIGate wraps the UI before it answers on UIListener: the operators' sign-in and the Host check (dev passes
	// api.NewUIGate). Nil serves the UI as it is.
	UIGate func(ui http.Handler) http.Handler
	// Namespace to create (default "default").
	Namespace string
	// SearchAttributes the namespace must have.
	SearchAttributes map[string]enumspb.IndexedValueType
	// CodecEndpoint the UI decodes payloads through (our API's /codec), empty for none.
	CodecEndpoint string
	// Logger receives the server's warnings and errors (nil: discarded).
	Logger *slog.Logger
}

// Server is a running embedded Temporal server and, optionally, its UI.
type Server struct {
	opts     Options
	server   temporal.Server
	ui       *uiserver.Server
	uiDone   chan struct{}
	uiDoor   *http.Server // serves UIListener: the gate, then the UI
	frontend string
}

// Start starts the server, registers the search attributes and starts the UI. The caller must have checked the
// configured ports are free: the UI exits the process when its port is taken.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if o.FrontendPort == 0 {
		if o.FrontendPort, err = FreePort(o.Host); err != nil {
			return nil, err
		}
	}
	s := &Server{opts: o, frontend: net.JoinHostPort(o.Host, strconv.Itoa(o.FrontendPort))}
	cfg, err := s.config()
	if err != nil {
		return nil, err
	}
	sqlConf := cfg.Persistence.DataStores[cfg.Persistence.DefaultStore].SQL
	if o.DatabaseFile != "" {
		if err := os.MkdirAll(filepath.Dir(o.DatabaseFile), 0o700); err != nil {
			return nil, err
		}
		for _, name := range []string{cfg.Persistence.DefaultStore, cfg.Persistence.VisibilityStore} {
			conf := cfg.Persistence.DataStores[name].SQL
			if _, err := os.Stat(conf.DatabaseName); errors.Is(err, os.ErrNotExist) {
				if err := sqliteschema.SetupSchema(conf); err != nil {
					return nil, fmt.Errorf("devserver: set up schema of %s: %w", conf.DatabaseName, err)
				}
			}
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, err
	}
	// Does nothing for a namespace that exists: search attributes are (re)registered after start.
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range cfg.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(o.Host, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	s.server, err = temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(newServerLogger(o.Logger)),
		temporal.WithDynamicConfigClient(DynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if err := s.server.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start: %w", err)
	}
	if err := s.registerSearchAttributes(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	if o.UIListener != nil {
		if err := s.startUI(); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) config() (*config.Config, error) {
	o := s.opts
	stores := map[string]config.DataStore{}
	sqlConf := &config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	stores["sqlite"] = config.DataStore{SQL: sqlConf}
	defaultStore, visibilityStore := "sqlite", "sqlite"
	if o.DatabaseFile != "" {
		sqlConf.DatabaseName = o.DatabaseFile
		sqlConf.ConnectAttributes["mode"] = "rwc"
		// SQLite's defaults (rollback journal, synchronous=FULL) fsync the journal, the database and its directory
		// on every commit, and the server commits several times per workflow task: that was most of the ~45 ms a
		// receipt's update cost (see README, Performance). WAL with synchronous=NORMAL fsyncs only at checkpoints;
		// a crash of the process loses nothing, a power cut may lose the last transactions (never corrupts).
		sqlConf.ConnectAttributes["journal_mode"] = "wal"
		sqlConf.ConnectAttributes["synchronous"] = "1"
		sqlConf.ConnectAttributes["busy_timeout"] = "10000"
		// Visibility (the UI's lists and search attributes) in a file of its own: SQLite has one writer per file,
		// and the visibility writes every search-attribute upsert queues took a fifth of the server's time on the
		// same connection as the workflow tasks. A database from before keeps its visibility where it is.
		visFile := strings.TrimSuffix(o.DatabaseFile, filepath.Ext(o.DatabaseFile)) + "-visibility.db"
		_, mainErr := os.Stat(o.DatabaseFile)
		_, visErr := os.Stat(visFile)
		if errors.Is(mainErr, os.ErrNotExist) || visErr == nil {
			vis := *sqlConf
			vis.DatabaseName, vis.ConnectAttributes = visFile, maps.Clone(sqlConf.ConnectAttributes)
			stores["sqlite-visibility"] = config.DataStore{SQL: &vis}
			visibilityStore = "sqlite-visibility"
		}
	} else {
		sqlConf.DatabaseName = fmt.Sprintf("mem%d", time.Now().UnixNano())
		sqlConf.ConnectAttributes["mode"] = "memory"
		sqlConf.ConnectAttributes["cache"] = "shared"
	}
	service := func(port int) (config.Service, error) {
		var err error
		if port == 0 {
			if port, err = FreePort(o.Host); err != nil {
				return config.Service{}, err
			}
		}
		membership, err := FreePort(o.Host)
		return config.Service{RPC: config.RPC{GRPCPort: port, MembershipPort: membership, BindOnIP: o.Host}}, err
	}
	services := map[string]config.Service{}
	for name, port := range map[string]int{"frontend": o.FrontendPort, "history": 0, "matching": 0, "worker": 0} {
		svc, err := service(port)
		if err != nil {
			return nil, err
		}
		services[name] = svc
	}
	return &config.Config{
		Global: config.Global{Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: o.Host}},
		Persistence: config.Persistence{
			DefaultStore: defaultStore, VisibilityStore: visibilityStore, NumHistoryShards: 1,
			DataStores: stores,
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace: false, FailoverVersionIncrement: 10, MasterClusterName: "active", CurrentClusterName: "active",
			ClusterInformation: map[string]cluster.ClusterInformation{"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: s.frontend}},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: s.frontend},
	}, nil
}

// registerSearchAttributes adds the project's attributes; ones that exist already count as done, so a restart on
// the same database works.
func (s *Server) registerSearchAttributes(ctx context.Context) error {
	if len(s.opts.SearchAttributes) == 0 {
		return nil
	}
	c, err := client.Dial(client.Options{HostPort: s.frontend, Namespace: s.opts.Namespace, Logger: quietSDKLogger{}})
	if err != nil {
		return fmt.Errorf("devserver: dial: %w", err)
	}
	defer c.Close()
	return RegisterSearchAttributes(ctx, c, s.opts.Namespace, s.opts.SearchAttributes)
}

// RegisterSearchAttributes adds the attributes a namespace lacks (those it has are left as they are) and, when it
// added any, waits until every service of the server has seen them: SQL visibility keeps custom attributes as
// aliases in the namespace, which each service's namespace cache reads again every namespaceCacheRefresh.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		missing, err := missingSearchAttributes(ctx, c, namespace, attrs)
		if err == nil && len(missing) == 0 {
			return nil
		}
		if err == nil {
			_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
		}
		var exists *serviceerror.AlreadyExists
		wait := 200 * time.Millisecond // the server may still be starting its internal services
		switch {
		case err == nil, errors.As(err, &exists):
			wait = 2*namespaceCacheRefresh + 500*time.Millisecond
		case ctx.Err() != nil:
			return fmt.Errorf("devserver: register search attributes: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: register search attributes: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// namespaceCacheRefresh is how often each service reads its namespaces again (system.namespaceCacheRefreshInterval,
// left at the server's default).
const namespaceCacheRefresh = 2 * time.Second

// missingSearchAttributes are those of attrs the namespace does not have.
func missingSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) (map[string]enumspb.IndexedValueType, error) {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, err
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, kind := range attrs {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = kind
		}
	}
	return missing, nil
}

// UIConfig is the Web UI's configuration: it reads everything and writes only what is safe. Terminate, reset,
// updates, activity commands, batch actions and starting workflows are off (they would skip the checks and the
// attribution that /v1/ops carries, or leave money in limbo); cancel and signals stay, because the workflow
// treats both as a platform cancel and a harmless nudge. The compose file sets the same switches.
func UIConfig(host string, port int, frontend, codecEndpoint, namespace string) *uiconfig.Config {
	return &uiconfig.Config{
		Host: host, Port: port, TemporalGRPCAddress: frontend, EnableUI: true,
		Codec:                     uiconfig.Codec{Endpoint: codecEndpoint},
		CORS:                      uiconfig.CORS{CookieInsecure: true},
		HideLogs:                  true,
		DisableNewsFetch:          true,
		DefaultNamespace:          namespace,
		WorkflowTerminateDisabled: true,
		WorkflowResetDisabled:     true,
		WorkflowUpdateDisabled:    true,
		WorkflowPauseDisabled:     true,
		ActivityCommandsDisabled:  true,
		BatchActionsDisabled:      true,
		StartWorkflowDisabled:     true,
	}
}

// startUI runs the UI server on a loopback port of its own and, on UIListener, its gate in front of it.
func (s *Server) startUI() error {
	inner, err := FreePort("127.0.0.1")
	if err != nil {
		return err
	}
	s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(UIConfig("127.0.0.1", inner, s.frontend, s.opts.CodecEndpoint, s.opts.Namespace)))
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		_ = s.ui.Start()
	}()
	var ui http.Handler = httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(inner))})
	if s.opts.UIGate != nil {
		ui = s.opts.UIGate(ui)
	}
	s.uiDoor = &http.Server{Handler: ui, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.uiDoor.Serve(s.opts.UIListener) }()
	return nil
}

// FrontendHostPort is where SDK clients connect.
func (s *Server) FrontendHostPort() string { return s.frontend }

// UIURL is the Web UI's address, empty when it is disabled.
func (s *Server) UIURL() string {
	if s.opts.UIListener == nil {
		return ""
	}
	return "http://" + s.opts.UIListener.Addr().String()
}

// Stop stops the UI, then the server.
func (s *Server) Stop() {
	if s.uiDoor != nil {
		_ = s.uiDoor.Close()
	}
	if s.ui != nil {
		s.ui.Stop()
		<-s.uiDone
	}
	if s.server != nil {
		_ = s.server.Stop()
	}
}

// FreePort finds a TCP port on host that nothing listens on, outside the kernel's ephemeral range.
//
// A port the kernel hands out for "listen on :0" comes from the same range it uses for the local end of outgoing
// connections, so between closing the probe and the server binding it, a client connection (the SDK's, a
// browser's) can take it: CI saw "bind: address already in use" on the frontend that way. Ports below the range
// are never given to outgoing connections, so only another listener could race us there.
func FreePort(host string) (int, error) {
	lo, hi := ephemeralRange()
	for range 200 {
		port := listenerPortLow + rand.IntN(lo-listenerPortLow)
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port on %s below the ephemeral range %d-%d", host, lo, hi)
}

// listenerPortLow keeps clear of well-known and commonly configured ports (8080, 7233, 5432, ...).
const listenerPortLow = 20000

// ephemeralRange reads Linux's range of ports for outgoing connections, with its default where it cannot be read.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l <= listenerPortLow+1000 || h < l {
		return lo, hi
	}
	return l, h
}

// DynamicConfig is the embedded server's tuning for one process with one history shard (see README, Performance).
// Each setting was measured with receiptflow bench.
//
//   - Each shard reads its transfer queue (a new run's first workflow task, every activity task, the workflow task
//     after an activity completes) at most history.transferProcessorMaxPollRPS times a second, 20 by default: with
//     a single shard every such hand-off waited up to 50 ms for the next read. That was the ~45 ms a receipt's
//     update cost over the engine's own speculative path. The timer and visibility queues have the same limit.
//     Production clusters have hundreds of shards and keep the defaults.
//   - One partition per task queue: four spread a queue over matching hosts; on one host they only forward tasks
//     between partitions.
//   - The search attributes cache is not refreshed on every read (system.forceSearchAttributesCacheRefreshOnRead,
//     which Temporal's own test server sets): with SQL visibility it holds the preallocated columns, which never
//     change, and each refresh read the cluster's metadata on every visibility write — 2 % of the process's CPU in
//     a bench of 800 receipts. A new attribute is an alias in the namespace; RegisterSearchAttributes waits for
//     the namespace caches to see it.
func DynamicConfig() dynamicconfig.StaticClient {
	value := func(v any) []dynamicconfig.ConstrainedValue { return []dynamicconfig.ConstrainedValue{{Value: v}} }
	return dynamicconfig.StaticClient{
		dynamicconfig.TransferProcessorMaxPollRPS.Key():   value(10000),
		dynamicconfig.TimerProcessorMaxPollRPS.Key():      value(10000),
		dynamicconfig.VisibilityProcessorMaxPollRPS.Key(): value(10000),
		// Mutable states of runs kept in memory: the default 128,000 held every parked run (a dev process with
		// 10,000 runs waiting at the face step grew past 1.5 GiB); a miss costs one read of a small row.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():        value(4096),
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  value(1),
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): value(1),
		// The system worker's task-queue and history scanners (housekeeping of leftover task rows and orphaned history
		// branches) and its parent-close-policy worker (receiptflow starts no child workflows) are off: each long-poll
		// held the server's stop for a second, a third of dev's whole stop on Ctrl-C. Closed runs are still deleted
		// at the end of their retention: that is the history service's own timer, not a scanner.
		dynamicconfig.TaskQueueScannerEnabled.Key():       value(false),
		dynamicconfig.HistoryScannerEnabled.Key():         value(false),
		dynamicconfig.EnableParentClosePolicyWorker.Key(): value(false),
	}
}

package eventstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wrapped by rawCodec
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
)

// ProtocolVersion is the KurrentDB server version this server reports to
// clients through ServerFeatures; it names the protocol level it emulates.
const ProtocolVersion = "24.10.0"

// streamWorkers is the number of reusable goroutines serving calls.
const streamWorkers = 128

// gracefulStopTimeout bounds how long Close waits for in-flight calls.
const gracefulStopTimeout = 5 * time.Second

// Server is a running event store. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	lis    net.Listener
	grpc   *grpc.Server
	store  *store
	hub    *hub
	cancel context.CancelFunc
	ctx    context.Context // cancelled by Close; ends subscriptions
	served chan struct{}
	id     uuid.UUID

	closeOnce sync.Once
	closeErr  error
}

// Start opens (or creates) the store in cfg.DataDir, binds cfg.Addr and
// serves until Close. When it returns without error the server accepts
// calls. ctx bounds only the start-up; use Close to stop the server.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("eventstore: create data dir %s: %w", cfg.DataDir, err)
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("eventstore: listen on %s: %w", cfg.Addr, err)
	}
	h := newHub()
	st, err := openStore(cfg.DataDir, cfg.CacheSize, cfg.Logger, h)
	if err != nil {
		_ = lis.Close()
		return nil, fmt.Errorf("eventstore: %w", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, lis: lis, store: st, hub: h, ctx: sctx, cancel: cancel,
		served: make(chan struct{}), id: uuid.New(),
	}
	s.grpc = grpc.NewServer(
		grpc.ForceServerCodecV2(rawCodec{encoding.GetCodecV2("proto")}),
		// Room for an oversize append's single event, so the client gets
		// the "Maximum Append Size" answer rather than a transport error.
		grpc.MaxRecvMsgSize(cfg.MaxAppendSize+64<<20),
		// Reused handler goroutines keep their grown stacks: a fresh
		// goroutine per append spends measurable time growing its stack.
		grpc.NumStreamWorkers(streamWorkers),
		// The client pings every 10 s even without calls; grpc-go's default
		// policy (at most one ping per 5 minutes) would answer with
		// GOAWAY "too_many_pings" and cut live subscriptions.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	api.RegisterStreamsServer(s.grpc, &streamsServer{srv: s})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, featuresServer{})
	gossip.RegisterGossipServer(s.grpc, gossipServer{srv: s})
	go func() {
		defer close(s.served)
		if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			cfg.Logger.Error("event store gRPC server stopped", "addr", lis.Addr().String(), "err", err)
		}
	}()
	cfg.Logger.Info("event store listening", "addr", s.Addr(), "data_dir", cfg.DataDir)
	return s, nil
}

// Addr returns the bound address as "host:port", e.g. "127.0.0.1:41234".
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL returns the client connection string, e.g.
// "esdb://127.0.0.1:41234?tls=false".
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// Close ends every subscription, waits (briefly) for in-flight calls, stops
// the writer after its queued writes and closes storage. It is idempotent and
// returns the first close error on every call.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		stopped := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(gracefulStopTimeout):
			s.grpc.Stop()
			<-stopped
		}
		<-s.served
		s.closeErr = s.store.close()
		s.cfg.Logger.Info("event store stopped", "addr", s.Addr())
	})
	return s.closeErr
}

// rawMsg is a message already in protobuf wire form, sent as is.
type rawMsg []byte

// rawCodec is the proto codec, plus rawMsg passed through unchanged so that
// stored events go to the wire without a decode and re-encode, and rawIn
// filled with the undecoded bytes of an incoming message.
type rawCodec struct{ proto encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(rawMsg); ok {
		return mem.BufferSlice{mem.SliceBuffer(r)}, nil
	}
	return c.proto.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawIn); ok {
		r.b = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (c rawCodec) Name() string { return "proto" }

// featuresServer answers ServerFeatures.GetSupportedMethods.
type featuresServer struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresServer) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	m := func(service, method string) *serverfeatures.SupportedMethod {
		return &serverfeatures.SupportedMethod{ServiceName: service, MethodName: method}
	}
	const streams = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: ProtocolVersion,
		Methods: []*serverfeatures.SupportedMethod{
			m(streams, "read"), m(streams, "append"), m(streams, "delete"), m(streams, "tombstone"),
			m("event_store.client.gossip.gossip", "read"),
			m("event_store.client.server_features.serverfeatures", "getsupportedmethods"),
		},
	}, nil
}

// gossipServer describes a one-node cluster whose leader is this server, so
// esdb+discover:// and multi-host connection strings work.
type gossipServer struct {
	gossip.UnimplementedGossipServer
	srv *Server
}

func (g gossipServer) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	host, portStr, _ := net.SplitHostPort(g.srv.Addr())
	port, _ := strconv.Atoi(portStr)
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId:   &shared.UUID{Value: &shared.UUID_String_{String_: g.srv.id.String()}},
		TimeStamp:    time.Now().UnixNano() / 100,
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: host, Port: uint32(port)},
	}}}, nil
}

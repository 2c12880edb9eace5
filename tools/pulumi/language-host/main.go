// Command pulumi-language-nodejs is dockfleet's own, minimal Pulumi language host for Node.js.
//
// Why it exists: the Pulumi CLI runs a program through a "language host" plugin that it finds on
// PATH or next to itself. The real one lives in its own Go module
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3), which the Go module proxy
// reachable here refuses to serve, and GitHub release downloads are unreachable. The work it has to
// do for a plain `pulumi up` is small, though: serve the LanguageRuntime gRPC API and, on Run, start
// the runner that ships inside the npm package (@pulumi/pulumi/cmd/run) with the engine's addresses
// as flags and the stack config in the environment. This file does that and no more.
//
// Deliberate differences from the real host:
//   - No resource-monitor proxy and no "sync invoke" pipes: the runner talks to the engine's monitor
//     directly (the npm SDK only uses the pipes when given --sync, for deprecated synchronous invokes).
//   - GetRequiredPackages reports nothing, so the engine never tries to download provider plugins
//     ahead of time (nothing can be downloaded here); plugins are loaded when a resource needs them,
//     and the dynamic-provider plugin (pulumi-resource-pulumi-nodejs) is installed next to the CLI.
//   - InstallDependencies does not run npm: dependencies come from the project's `npm ci`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// exitCodeAlreadyReported is the runner's exit code for "the error was already shown to the user"
// (nodeJSProcessExitedAfterLoggingUserActionableMessage in @pulumi/pulumi/cmd/run/index.ts).
const exitCodeAlreadyReported = 32

func main() {
	// The engine starts language hosts as `pulumi-language-nodejs [flags] <engine address>`.
	tracing := flag.String("tracing", "", "Zipkin-compatible tracing endpoint, passed on to the runner")
	flag.String("root", "", "project root (unused: the engine sends it with every request)")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host := &languageHost{engineAddress: flag.Arg(0), tracing: *tracing, cancelPrograms: ctx}

	// Exit when the engine goes away, so a killed CLI leaves no stray language host behind.
	if host.engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, host.engineAddress, 5*time.Minute, cancel); err != nil {
			fail("could not watch the Pulumi engine at %s: %v", host.engineAddress, err)
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelOnDone(ctx),
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fail("could not start the language host gRPC server: %v", err)
	}
	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail("language host gRPC server stopped: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-nodejs (dockfleet): "+format+"\n", args...)
	os.Exit(1)
}

// cancelOnDone adapts a context to the boolean channel rpcutil uses to stop a server.
func cancelOnDone(ctx context.Context) chan bool {
	stop := make(chan bool, 1)
	go func() {
		<-ctx.Done()
		stop <- true
	}()
	return stop
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu             sync.Mutex
	engineAddress  string
	tracing        string
	cancelPrograms context.Context // done when the engine asks us to Cancel or goes away
	cancelFunc     context.CancelFunc
}

// Handshake is how newer engines pass their address; older ones pass it as the first argument.
func (h *languageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// GetRequiredPlugins and GetRequiredPackages report nothing on purpose: see the file comment.
func (h *languageHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *languageHost) InstallDependencies(
	_ *pulumirpc.InstallDependenciesRequest, stream pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	return stream.Send(&pulumirpc.InstallDependenciesResponse{
		Stdout: []byte("dockfleet's pulumi-language-nodejs does not install packages: run `npm ci` in the project.\n"),
	})
}

func (h *languageHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *languageHost) Template(context.Context, *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	return &pulumirpc.TemplateResponse{}, nil
}

func (h *languageHost) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find node on PATH: %w", err)
	}
	out, _ := exec.CommandContext(ctx, node, "--version").Output()
	return &pulumirpc.AboutResponse{
		Executable: node,
		Version:    strings.TrimSpace(string(out)),
		Metadata:   map[string]string{"languageHost": "dockfleet minimal pulumi-language-nodejs"},
	}, nil
}

func (h *languageHost) GetProgramDependencies(
	context.Context, *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

// Cancel stops running programs (the engine calls it on Ctrl-C).
func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancelFunc != nil {
		h.cancelFunc()
	}
	return &emptypb.Empty{}, nil
}

// Run executes the program: `node <runner> <flags> <entry point> <args>` in the program directory,
// with the config in PULUMI_CONFIG and the TypeScript switch in PULUMI_NODEJS_TYPESCRIPT, which is
// how @pulumi/pulumi/cmd/run expects them (the same flags and variables as the real host).
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return &pulumirpc.RunResponse{Error: "could not find node on PATH: install Node.js"}, nil
	}
	programDir := req.GetInfo().GetProgramDirectory()
	if programDir == "" {
		programDir = req.GetPwd()
	}
	runner, err := locateRunner(ctx, node, programDir)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	env, err := h.runEnv(req)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	nodeArgs := strings.Fields(stringOption(req, "nodeargs"))
	nodeArgs = append(nodeArgs, h.runArgs(req, runner, programDir)...)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(h.cancelPrograms, cancel)
	defer stop()
	h.mu.Lock()
	h.cancelFunc = cancel
	h.mu.Unlock()

	cmd := exec.CommandContext(runCtx, node, nodeArgs...)
	cmd.Dir = programDir
	cmd.Env = env
	// Wrapped so os/exec copies through a pipe: node may switch an inherited fd to non-blocking.
	cmd.Stdout = struct{ io.Writer }{os.Stdout}
	cmd.Stderr = struct{ io.Writer }{os.Stderr}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second

	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitCodeAlreadyReported:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
		}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run %s %s: %v", node, runner, err)}, nil
	}
}

// runArgs renders the runner's command line (see usage() in @pulumi/pulumi/cmd/run/index.ts).
func (h *languageHost) runArgs(req *pulumirpc.RunRequest, runner, programDir string) []string {
	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()
	args := []string{runner}
	flagIfSet := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flagIfSet("monitor", req.GetMonitorAddress())
	flagIfSet("engine", engine)
	flagIfSet("organization", req.GetOrganization())
	flagIfSet("project", req.GetProject())
	flagIfSet("root-directory", req.GetInfo().GetRootDirectory())
	flagIfSet("stack", req.GetStack())
	flagIfSet("pwd", programDir)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	flagIfSet("parallel", strconv.Itoa(int(req.GetParallel())))
	flagIfSet("tracing", h.tracing)
	entryPoint := req.GetInfo().GetEntryPoint()
	if entryPoint == "" {
		entryPoint = "."
	}
	args = append(args, entryPoint)
	return append(args, req.GetArgs()...)
}

// runEnv adds the stack config and the runtime options of Pulumi.yaml to our environment.
func (h *languageHost) runEnv(req *pulumirpc.RunRequest) ([]string, error) {
	// The runner accepts both key forms; like the real host we send the old `<ns>:config:<name>`.
	cfg := make(map[string]string, len(req.GetConfig()))
	for k, v := range req.GetConfig() {
		key, err := config.ParseKey(k)
		if err != nil {
			return nil, fmt.Errorf("config key %q is not <namespace>:<name>: %w", k, err)
		}
		cfg[key.Namespace()+":config:"+key.Name()] = v
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "PULUMI_CONFIG="+string(cfgJSON), "PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON))
	// `runtime.options.typescript` defaults to true, as in the real host.
	if ts, ok := req.GetInfo().GetOptions().AsMap()["typescript"].(bool); !ok || ts {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if tsconfig := stringOption(req, "tsconfig"); tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}
	return env, nil
}

func stringOption(req *pulumirpc.RunRequest, name string) string {
	value, _ := req.GetInfo().GetOptions().AsMap()[name].(string)
	return value
}

// locateRunner finds @pulumi/pulumi/cmd/run the way Node would from the program directory, so a
// node_modules in a parent directory works too. PULUMI_LANGUAGE_NODEJS_RUN_PATH overrides it.
func locateRunner(ctx context.Context, node, programDir string) (string, error) {
	if override := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH"); override != "" {
		return override, nil
	}
	cmd := exec.CommandContext(ctx, node, "-e", "console.log(require.resolve('@pulumi/pulumi/cmd/run'))")
	cmd.Dir = programDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("could not find @pulumi/pulumi/cmd/run from %s (%v): run `npm ci` in the project",
			programDir, err)
	}
	return filepath.Clean(strings.TrimSpace(string(out))), nil
}

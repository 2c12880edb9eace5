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
//   - RunPlugin (how the engine starts a plugin from source: a folder with a PulumiPlugin.yaml whose
//     runtime is nodejs, such as a component provider) runs @pulumi/pulumi/cmd/run-plugin on the
//     folder, as the real host does, for resource plugins only: policy packs (analyzers) are
//     refused. `nodeargs` go to node itself, before the runner; the real host puts them after it,
//     where node never sees them. No debugger attach.
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

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
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
	// Older engines (such as the Go SDK inside the YAML language host) also pass the runtime
	// options of Pulumi.yaml or PulumiPlugin.yaml as flags; each request carries them too.
	for _, option := range []string{"typescript", "tsconfig", "nodeargs", "packagemanager"} {
		flag.String(option, "", "runtime option (unused: the engine sends it with every request)")
	}
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
	runner, err := locateRunner(ctx, node, programDir, programRunner)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	env, err := h.runEnv(req)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	nodeArgs := strings.Fields(stringOption(req.GetInfo(), "nodeargs"))
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
	return append(env, typeScriptEnv(req.GetInfo())...), nil
}

// typeScriptEnv renders `runtime.options.typescript` (default true, as in the real host) and
// `tsconfig` for the runners.
func typeScriptEnv(info *pulumirpc.ProgramInfo) []string {
	var env []string
	if ts, ok := info.GetOptions().AsMap()["typescript"].(bool); !ok || ts {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if tsconfig := stringOption(info, "tsconfig"); tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}
	return env
}

func stringOption(info *pulumirpc.ProgramInfo, name string) string {
	value, _ := info.GetOptions().AsMap()[name].(string)
	return value
}

// The runners inside the npm package: one for programs, one for plugins from source.
const (
	programRunner = "@pulumi/pulumi/cmd/run"
	pluginRunner  = "@pulumi/pulumi/cmd/run-plugin"
)

// locateRunner finds a runner of the npm package the way Node would from dir, so a node_modules in
// a parent directory works too. PULUMI_LANGUAGE_NODEJS_RUN_PATH overrides it (as in the real host).
func locateRunner(ctx context.Context, node, dir, runner string) (string, error) {
	if override := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH"); override != "" {
		return override, nil
	}
	cmd := exec.CommandContext(ctx, node, "-e", "console.log(require.resolve(process.argv[1]))", runner)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("could not find %s from %s (%v): run `npm ci` there", runner, dir, err)
	}
	return filepath.Clean(strings.TrimSpace(string(out))), nil
}

// RunPlugin starts a plugin from source: `node <nodeargs> <run-plugin> <plugin folder> <args>` in
// the engine's working directory, with the engine's environment, streaming its stdout (where a
// provider prints its port) and stderr back, then its exit code.
func (h *languageHost) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	if req.GetKind() == string(apitype.AnalyzerPlugin) {
		return errors.New("dockfleet's pulumi-language-nodejs does not run policy packs")
	}
	ctx := server.Context()
	node, err := exec.LookPath("node")
	if err != nil {
		return errors.New("could not find node on PATH: install Node.js")
	}
	pluginDir := req.GetInfo().GetProgramDirectory()
	runner, err := locateRunner(ctx, node, pluginDir, pluginRunner)
	if err != nil {
		return err
	}
	args := strings.Fields(stringOption(req.GetInfo(), "nodeargs"))
	args = append(args, runner, pluginDir)
	args = append(args, req.GetArgs()...)

	// The engine stops a plugin by ending this call: its context. Interrupt first, so a provider
	// can finish what it writes.
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(req.GetEnv(), typeScriptEnv(req.GetInfo())...)
	output := &pluginOutput{server: server}
	cmd.Stdout = output.writer(func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	cmd.Stderr = output.writer(func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second

	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		return output.send(&pulumirpc.RunPluginResponse{
			Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
		})
	case ctx.Err() != nil:
		return nil // stopped by the engine
	default:
		return fmt.Errorf("could not run %s %s: %w", node, runner, err)
	}
}

// pluginOutput sends a plugin's output on the RunPlugin stream. os/exec copies stdout and stderr
// in two goroutines, and a gRPC stream takes one Send at a time.
type pluginOutput struct {
	mu     sync.Mutex
	server pulumirpc.LanguageRuntime_RunPluginServer
}

func (o *pluginOutput) send(msg *pulumirpc.RunPluginResponse) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.server.Send(msg)
}

func (o *pluginOutput) writer(wrap func([]byte) *pulumirpc.RunPluginResponse) io.Writer {
	return writerFunc(func(b []byte) (int, error) {
		// gRPC may hold on to the slice after Send returns; os/exec reuses its buffer.
		if err := o.send(wrap(append([]byte(nil), b...))); err != nil {
			return 0, err
		}
		return len(b), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

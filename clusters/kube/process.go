package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/meshbench/meshbench/clusters"
)

// errExited is what writes to the stdin of an ended process return.
var errExited = errors.New("process exited")

// execFunc runs command in a container of a pod with the given streams and
// returns when it has exited.
type execFunc func(ctx context.Context, namespace, pod, container string, command []string, stdin io.Reader, stdout, stderr io.Writer) error

// restExec runs commands through the pods/exec subresource: WebSocket
// first, SPDY where the API server or a proxy cannot upgrade to it, as
// kubectl exec does. Closing stdin closes the remote process's stdin.
func restExec(cfg *rest.Config, client rest.Interface) execFunc {
	return func(ctx context.Context, namespace, pod, container string, command []string, stdin io.Reader, stdout, stderr io.Writer) error {
		u := client.Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{
				Container: container,
				Command:   command,
				Stdin:     true,
				Stdout:    true,
				Stderr:    true,
			}, scheme.ParameterCodec).URL()
		spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
		if err != nil {
			return fmt.Errorf("exec in pod %s: %w", pod, err)
		}
		ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
		if err != nil {
			return fmt.Errorf("exec in pod %s: %w", pod, err)
		}
		ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		if err != nil {
			return fmt.Errorf("exec in pod %s: %w", pod, err)
		}
		return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	}
}

// process is an agent running in a pod, at the other end of an exec
// stream.
type process struct {
	desc    string
	stdinR  *io.PipeReader
	stdinW  *io.PipeWriter
	stdoutR *io.PipeReader
	stdoutW *io.PipeWriter
	tail    clusters.Tail
	cancel  context.CancelFunc
	ctx     context.Context

	done chan struct{}
	err  error // Wait's error, with the stderr tail
}

var _ clusters.Process = (*process)(nil)

func newProcess(ctx context.Context, desc string) *process {
	p := &process{desc: desc, done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.stdinR, p.stdinW = io.Pipe()
	p.stdoutR, p.stdoutW = io.Pipe()
	return p
}

func (p *process) run(exec execFunc, namespace, pod, container string, command []string, stderr io.Writer) {
	err := exec(p.ctx, namespace, pod, container, command, p.stdinR, p.stdoutW, stderr)
	p.cancel()
	if err != nil {
		p.err = fmt.Errorf("%s exited: %w", p.desc, err)
		if t := p.tail.String(); t != "" {
			p.err = fmt.Errorf("%w; stderr: %s", p.err, t)
		}
	}
	p.stdoutW.Close()
	// Writers must fail rather than wait for a reader that is gone.
	p.stdinR.CloseWithError(errExited)
	close(p.done)
}

// Pid is 0: the process runs in a container of another machine. Its pid
// there is in the agent's wire.Ready.
func (p *process) Pid() int          { return 0 }
func (p *process) Stdin() io.Writer  { return p.stdinW }
func (p *process) Stdout() io.Reader { return p.stdoutR }

// Wait returns when the process has exited; its error ends with the tail
// of the process's stderr.
func (p *process) Wait() error {
	<-p.done
	return p.err
}

// Stop closes the process's stdin, on which agents exit, and, if it still
// runs after grace, cancels its exec stream. An exit caused by Stop is not
// an error; any other failure is returned as Wait returns it.
func (p *process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.stdinW.Close()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		p.cancel()
		<-p.done
		return fmt.Errorf("stop %s: still running %s after its stdin closed, exec stream cancelled", p.desc, grace)
	}
}

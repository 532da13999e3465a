package testkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/taylordash/taylordash/internal/childproc"
)

// Variables of the testcontainers provider.
const (
	// EnvContainerTimeout bounds a container's start, image pull excluded
	// (a Go duration; default 60s).
	EnvContainerTimeout = "TAYLORDASH_TEST_CONTAINER_TIMEOUT"
	// EnvContainerNetwork is "bridge" (the default: the engine's default
	// network, ports mapped to the host, as Docker Desktop runs it) or
	// "host" (the host's network, each service on a free port given as an
	// argument, so that no traffic leaves loopback).
	EnvContainerNetwork = "TAYLORDASH_TEST_CONTAINER_NETWORK"
)

// Container labels: every container the testkit starts carries them, so
// that containers of a crashed test binary are found and removed.
const (
	labelTestkit = "org.taylordash.testkit"
	labelPID     = "org.taylordash.testkit.pid"
	labelHost    = "org.taylordash.testkit.host"
)

// containerSettings is the testcontainers provider's configuration:
// Options from MainWith, overridden by the environment.
type containerSettings struct {
	pgImage, mqttImage string
	timeout            time.Duration
	hostNetwork        bool
}

func (k *kit) containerSettings() (containerSettings, error) {
	s := containerSettings{
		pgImage:   k.opts.PostgresImage,
		mqttImage: k.opts.MosquittoImage,
		timeout:   k.opts.ContainerStartupTimeout,
	}
	network := k.opts.ContainerNetwork
	s.pgImage = envOr(EnvPostgresImage, s.pgImage)
	s.mqttImage = envOr(EnvMosquittoImage, s.mqttImage)
	network = envOr(EnvContainerNetwork, network)
	if v := os.Getenv(EnvContainerTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("%s=%q: expected a positive duration such as 90s", EnvContainerTimeout, v)
		}
		s.timeout = d
	}
	if s.pgImage == "" {
		s.pgImage = "postgres:15"
	}
	if s.mqttImage == "" {
		s.mqttImage = "eclipse-mosquitto:2"
	}
	if s.timeout == 0 {
		s.timeout = 60 * time.Second
	}
	switch network {
	case "", "bridge":
	case "host":
		s.hostNetwork = true
	default:
		return s, fmt.Errorf("container network %q: expected bridge or host (%s)", network, EnvContainerNetwork)
	}
	return s, nil
}

// dockerAbsent returns why no Docker engine can be used, or "" if one
// answers.
func dockerAbsent(ctx context.Context) string {
	const todo = "; start one (dockerd, or systemctl start docker) or use another provider"
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		// An explicit engine is the only one: testcontainers would fall
		// back to others.
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return "no Docker engine at DOCKER_HOST=" + host + ": " + err.Error() + todo
		}
		defer cli.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
			return "no Docker engine answers at DOCKER_HOST=" + host + ": " + err.Error() + todo
		}
	} else if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		return "no Docker engine (DOCKER_HOST is unset and /var/run/docker.sock does not exist)" + todo
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "no Docker engine: " + err.Error() + todo
	}
	defer p.Close()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Health(hctx); err != nil {
		return "the Docker engine does not answer: " + err.Error() + todo
	}
	return ""
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// containerLabels marks a container as this process's.
func containerLabels() map[string]string {
	host, _ := os.Hostname()
	return map[string]string{labelTestkit: "1", labelPID: strconv.Itoa(os.Getpid()), labelHost: host}
}

// reapContainers removes containers started by testkit processes of this
// host that no longer run (a test binary killed before Main stopped
// them). Without Ryuk (TESTCONTAINERS_RYUK_DISABLED) this is what keeps a
// crash from leaving containers behind for good.
func reapContainers(ctx context.Context) {
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return
	}
	defer p.Close()
	host, _ := os.Hostname()
	list, err := p.Client().ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", labelTestkit),
	})
	if err != nil {
		return
	}
	for _, c := range list.Items {
		pid, err := strconv.Atoi(c.Labels[labelPID])
		if err != nil || c.Labels[labelHost] != host || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_, _ = p.Client().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// containerPrelude is what both container providers do first: check for
// an engine (absent says why there is none), read the settings, and remove
// containers that crashed test binaries left.
func (k *kit) containerPrelude(ctx context.Context) (s containerSettings, absent string, err error) {
	if why := dockerAbsent(ctx); why != "" {
		return s, why, nil
	}
	if s, err = k.containerSettings(); err != nil {
		return s, "", err
	}
	reapContainers(ctx)
	return s, "", nil
}

// startPostgresContainer starts one PostgreSQL container for the test
// binary (the testcontainers postgres module), stopped by Main.
func startPostgresContainer(ctx context.Context, k *kit) (string, string, error) {
	s, absent, err := k.containerPrelude(ctx)
	if absent != "" || err != nil {
		return "", absent, err
	}
	const user, password = "postgres", "postgres"
	opts := []testcontainers.ContainerCustomizer{
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.WithUsername(user),
		tcpostgres.WithPassword(password),
		testcontainers.WithLabels(containerLabels()),
	}
	port := "5432"
	if s.hostNetwork {
		p, err := childproc.FreePort()
		if err != nil {
			return "", "", err
		}
		port = strconv.Itoa(p)
		opts = append(opts,
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
			testcontainers.WithCmd("postgres", "-p", port, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
		)
	} else {
		opts = append(opts, testcontainers.WithCmd("postgres", "-c", "fsync=off"))
	}
	// pg_isready on TCP answers only once the real server runs (the
	// image's init server listens on the socket only), in either network.
	opts = append(opts, testcontainers.WithWaitStrategyAndDeadline(s.timeout,
		wait.ForExec([]string{"pg_isready", "-h", "127.0.0.1", "-p", port, "-U", user}).
			WithPollInterval(100*time.Millisecond).WithExitCodeMatcher(func(code int) bool { return code == 0 })))

	c, err := tcpostgres.Run(ctx, s.pgImage, opts...)
	if err != nil {
		var logs containerLogger
		if c != nil {
			logs = c
		}
		return "", "", containerError(ctx, "PostgreSQL", s.pgImage, EnvPostgresImage, port, s.timeout, logs, err)
	}
	k.stops = append(k.stops, func(ctx context.Context) error { return terminate(ctx, c) })
	u := fmt.Sprintf("postgres://%s:%s@%s/postgres?sslmode=disable", user, password, net.JoinHostPort("127.0.0.1", port))
	if !s.hostNetwork {
		if u, err = c.ConnectionString(ctx, "sslmode=disable"); err != nil {
			return "", "", fmt.Errorf("container %s: %w", s.pgImage, err)
		}
	}
	return u, "", nil
}

// startMosquittoContainer starts one Mosquitto container for the test
// binary with anonymous access and persistence, stopped by Main.
func startMosquittoContainer(ctx context.Context, k *kit) (string, string, error) {
	s, absent, err := k.containerPrelude(ctx)
	if absent != "" || err != nil {
		return "", absent, err
	}
	port, bind := "1883", "0.0.0.0"
	opts := []testcontainers.ContainerCustomizer{testcontainers.WithLabels(containerLabels())}
	if s.hostNetwork {
		p, err := childproc.FreePort()
		if err != nil {
			return "", "", err
		}
		port, bind = strconv.Itoa(p), "127.0.0.1"
		opts = append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }))
	} else {
		opts = append(opts, testcontainers.WithExposedPorts("1883/tcp"))
	}
	conf := fmt.Sprintf(`listener %s %s
allow_anonymous true
persistence true
persistence_location /mosquitto/data/
max_inflight_messages 0
max_queued_messages 0
log_dest stderr
`, port, bind)
	opts = append(opts,
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(conf),
			ContainerFilePath: "/mosquitto/config/mosquitto.conf",
			FileMode:          0o644,
		}),
		testcontainers.WithWaitStrategyAndDeadline(s.timeout, wait.ForLog(" running").WithPollInterval(50*time.Millisecond)),
	)
	c, err := testcontainers.Run(ctx, s.mqttImage, opts...)
	if err != nil {
		var logs containerLogger
		if c != nil {
			logs = c
		}
		return "", "", containerError(ctx, "MQTT", s.mqttImage, EnvMosquittoImage, port, s.timeout, logs, err)
	}
	k.stops = append(k.stops, func(ctx context.Context) error { return terminate(ctx, c) })
	if s.hostNetwork {
		return "tcp://" + net.JoinHostPort("127.0.0.1", port), "", nil
	}
	ep, err := c.PortEndpoint(ctx, "1883/tcp", "tcp")
	if err != nil {
		return "", "", fmt.Errorf("container %s: %w", s.mqttImage, err)
	}
	return ep, "", nil
}

// terminate stops and removes a container, giving it a few seconds to stop
// cleanly (a container still initialising may ignore SIGTERM).
func terminate(ctx context.Context, c testcontainers.Container) error {
	return testcontainers.TerminateContainer(c, testcontainers.StopContext(ctx), testcontainers.StopTimeout(3*time.Second))
}

// containerLogger is what the container APIs of both providers return.
type containerLogger interface {
	Logs(ctx context.Context) (io.ReadCloser, error)
}

// containerError explains a failed container start in terms of what to
// do: a missing image (how to get or build one), a port that never
// answered (with the container's last log lines), or no Ryuk image.
func containerError(ctx context.Context, service, image, imageVar, port string, timeout time.Duration, c containerLogger, err error) error {
	if t, ok := c.(testcontainers.Container); ok && t != nil {
		defer terminate(context.WithoutCancel(ctx), t) //nolint:errcheck // best effort on the error path
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "ryuk"):
		return fmt.Errorf("start %s container %s: %w; no Ryuk image is available here: set TESTCONTAINERS_RYUK_DISABLED=true (the testkit removes its containers at the end of the run, and those of crashed runs at the next)", service, image, err)
	case imageMissing(ctx, image):
		return fmt.Errorf("start %s container: image %s is not on this Docker engine and could not be pulled (%v); get it with `docker pull %s`, or build local images with testkit/images/build-local.sh and set %s=%s",
			service, image, err, image, imageVar, localImage(imageVar))
	case c != nil && isTimeout(err):
		return fmt.Errorf("start %s container %s: port %s never answered within %s (%s); the container's last log lines:\n%s",
			service, image, port, timeout, EnvContainerTimeout, lastLogLines(ctx, c, 20))
	case c != nil:
		return fmt.Errorf("start %s container %s: %w; the container's last log lines:\n%s", service, image, err, lastLogLines(ctx, c, 20))
	}
	return fmt.Errorf("start %s container %s: %w", service, image, err)
}

func localImage(imageVar string) string {
	if imageVar == EnvPostgresImage {
		return "taylordash/postgres:15"
	}
	return "taylordash/mosquitto:2"
}

func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded")
}

func imageMissing(ctx context.Context, image string) bool {
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	defer p.Close()
	_, err = p.Client().ImageInspect(ctx, image)
	return err != nil
}

func lastLogLines(ctx context.Context, c containerLogger, n int) string {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rc, err := c.Logs(lctx)
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "(no output)"
	}
	return "  " + strings.Join(lines, "\n  ")
}

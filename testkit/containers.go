package testkit

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// dockerAbsent returns why no Docker engine can be used, or "" if one
// answers.
func dockerAbsent(ctx context.Context) string {
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			return "no Docker engine (DOCKER_HOST is unset and /var/run/docker.sock does not exist)"
		}
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "no Docker engine: " + err.Error()
	}
	defer p.Close()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Health(hctx); err != nil {
		return "the Docker engine does not answer: " + err.Error()
	}
	return ""
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// startPostgresContainer starts one PostgreSQL container for the test
// binary (the testcontainers postgres module), stopped by Main.
func startPostgresContainer(ctx context.Context, k *kit) (string, string, error) {
	if why := dockerAbsent(ctx); why != "" {
		return "", why, nil
	}
	img := envOr(EnvPostgresImage, "postgres:15")
	c, err := tcpostgres.Run(ctx, img,
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies(),
	)
	if err != nil {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		return "", "", fmt.Errorf("start container %s: %w (is the image present? docker pull %s)", img, err, img)
	}
	k.stops = append(k.stops, func(context.Context) error { return testcontainers.TerminateContainer(c) })
	u, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return "", "", fmt.Errorf("container %s: %w", img, err)
	}
	return u, "", nil
}

const mosquittoContainerConf = `listener 1883 0.0.0.0
allow_anonymous true
persistence true
persistence_location /mosquitto/data/
max_queued_messages 100000
`

// startMosquittoContainer starts one Mosquitto container for the test
// binary with anonymous access and persistence, stopped by Main.
func startMosquittoContainer(ctx context.Context, k *kit) (string, string, error) {
	if why := dockerAbsent(ctx); why != "" {
		return "", why, nil
	}
	img := envOr(EnvMosquittoImage, "eclipse-mosquitto:2")
	c, err := testcontainers.Run(ctx, img,
		testcontainers.WithExposedPorts("1883/tcp"),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(mosquittoContainerConf),
			ContainerFilePath: "/mosquitto/config/mosquitto.conf",
			FileMode:          0o644,
		}),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("1883/tcp").WithStartupTimeout(30*time.Second)),
	)
	if err != nil {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		return "", "", fmt.Errorf("start container %s: %w (is the image present? docker pull %s)", img, err, img)
	}
	k.stops = append(k.stops, func(context.Context) error { return testcontainers.TerminateContainer(c) })
	ep, err := c.PortEndpoint(ctx, "1883/tcp", "tcp")
	if err != nil {
		return "", "", fmt.Errorf("container %s: %w", img, err)
	}
	return ep, "", nil
}

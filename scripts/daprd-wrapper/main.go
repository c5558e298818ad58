// Command daprd is Dapr's own sidecar (github.com/dapr/dapr/cmd/daprd/app) with only the
// components the stacks use registered, so the build compiles four components instead of
// the hundred that Dapr's `stablecomponents` or `allcomponents` tags pull in.
// scripts/daprd-toolchain builds it.
package main

import (
	"github.com/dapr/components-contrib/bindings"
	kafkabinding "github.com/dapr/components-contrib/bindings/kafka"
	"github.com/dapr/components-contrib/nameresolution/mdns"
	"github.com/dapr/components-contrib/pubsub/kafka"
	"github.com/dapr/components-contrib/secretstores/local/file"
	"github.com/dapr/components-contrib/state/redis"
	"github.com/dapr/dapr/cmd/daprd/app"
	bindingsLoader "github.com/dapr/dapr/pkg/components/bindings"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	secretstoresLoader "github.com/dapr/dapr/pkg/components/secretstores"
	stateLoader "github.com/dapr/dapr/pkg/components/state"
	"github.com/dapr/kit/logger"
)

func main() {
	// The stacks' Components (infra/dapr/components.py): pubsub.kafka, state.redis and the
	// output-only bindings.kafka.
	pubsubLoader.DefaultRegistry.RegisterComponent(kafka.NewKafka, "kafka")
	stateLoader.DefaultRegistry.RegisterComponent(redis.NewRedisStateStore, "redis")
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(func(l logger.Logger) bindings.OutputBinding {
		return kafkabinding.NewKafka(l)
	}, "kafka")
	// Self-hosted daprd has no Kubernetes secret store: the converted Components read their
	// secrets from a local file store instead (tests/dapr).
	secretstoresLoader.DefaultRegistry.RegisterComponent(file.NewLocalSecretStore, "local.file")
	// The self-hosted name resolver daprd loads by default.
	nrLoader.DefaultRegistry.RegisterComponent(mdns.NewResolver, "mdns")
	app.Run()
}

package scanner

import (
	"go.uber.org/fx"

	"github.com/taylordash/taylordash/dashcore"
	"github.com/taylordash/taylordash/pluginhost"
)

// Module provides the *Scanner, configured from the
// TAYLORDASH_PLUGINS_SCAN_* variables, as pluginhost's BundleScanner:
// with it in the application, pluginhost.Module installs UI plugins.
var Module = fx.Module("pluginhost.scanner",
	dashcore.ProvideConfig[Config](),
	fx.Provide(
		New,
		func(s *Scanner) pluginhost.BundleScanner { return s },
	),
)

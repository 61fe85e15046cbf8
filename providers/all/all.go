// Package all registers every provider adapter and sandbox simulator.
package all

import (
	_ "github.com/paygate/paygate/providers/sandbox/wechatv2sim"
	_ "github.com/paygate/paygate/providers/wechatv2"
)

// Package all registers every provider adapter and sandbox simulator.
package all

import (
	_ "github.com/paygate/paygate/providers/cloudpay"
	_ "github.com/paygate/paygate/providers/sandbox/cloudpaysim"
	_ "github.com/paygate/paygate/providers/sandbox/wechatv3sim"
	_ "github.com/paygate/paygate/providers/wechatv3"
)

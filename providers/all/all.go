// Package all registers every provider adapter and sandbox simulator.
package all

import (
	_ "github.com/paygate/paygate/providers/cloudpay"
	_ "github.com/paygate/paygate/providers/sandbox/cloudpaysim"
	_ "github.com/paygate/paygate/providers/sandbox/supaysim"
	_ "github.com/paygate/paygate/providers/sandbox/twopaynowsim"
	_ "github.com/paygate/paygate/providers/sandbox/vrpaymentsim"
	_ "github.com/paygate/paygate/providers/sandbox/wechatv2sim"
	_ "github.com/paygate/paygate/providers/sandbox/wechatv3sim"
	_ "github.com/paygate/paygate/providers/sandbox/yabandsim"
	_ "github.com/paygate/paygate/providers/supay"
	_ "github.com/paygate/paygate/providers/twopaynow"
	_ "github.com/paygate/paygate/providers/vrpayment"
	_ "github.com/paygate/paygate/providers/wechatv2"
	_ "github.com/paygate/paygate/providers/wechatv3"
	_ "github.com/paygate/paygate/providers/yaband"
)

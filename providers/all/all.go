// Package all registers every provider: each adapter, and beside it the
// simulator the sandbox serves for it (kept in its own package, written
// apart from the adapter). Adding a provider adds its two lines here.
package all

import (
	_ "github.com/paygate/paygate/providers/cloudpay"
	_ "github.com/paygate/paygate/providers/sandbox/cloudpaysim"

	_ "github.com/paygate/paygate/providers/sandbox/supaysim"
	_ "github.com/paygate/paygate/providers/supay"

	_ "github.com/paygate/paygate/providers/sandbox/twopaynowsim"
	_ "github.com/paygate/paygate/providers/twopaynow"

	_ "github.com/paygate/paygate/providers/sandbox/vrpaymentsim"
	_ "github.com/paygate/paygate/providers/vrpayment"

	_ "github.com/paygate/paygate/providers/sandbox/wechatv2sim"
	_ "github.com/paygate/paygate/providers/wechatv2"

	_ "github.com/paygate/paygate/providers/sandbox/wechatv3sim"
	_ "github.com/paygate/paygate/providers/wechatv3"

	_ "github.com/paygate/paygate/providers/sandbox/yabandsim"
	_ "github.com/paygate/paygate/providers/yaband"
)

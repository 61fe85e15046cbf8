// Package all registers every provider adapter and sandbox simulator.
package all

import (
	_ "github.com/paygate/paygate/providers/sandbox/twopaynowsim"
	_ "github.com/paygate/paygate/providers/sandbox/vrpaymentsim"
	_ "github.com/paygate/paygate/providers/twopaynow"
	_ "github.com/paygate/paygate/providers/vrpayment"
)

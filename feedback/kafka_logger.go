package feedback

import (
	"fmt"

	"go.uber.org/zap"
)

// clientID names situ's connections in the broker's logs and metrics.
const clientID = "situ"

// kafkaLogger routes kafka-go's internal logs (retries, reconnects) to zap
// at debug level: the components log what they surface themselves.
func kafkaLogger(log *zap.Logger) kafkaLoggerFunc {
	return func(msg string, args ...any) {
		if ce := log.Check(zap.DebugLevel, "kafka-go"); ce != nil {
			ce.Write(zap.String("detail", fmt.Sprintf(msg, args...)))
		}
	}
}

type kafkaLoggerFunc func(string, ...any)

func (f kafkaLoggerFunc) Printf(msg string, args ...any) { f(msg, args...) }

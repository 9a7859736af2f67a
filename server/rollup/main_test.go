package rollup_test

import (
	"os"
	"testing"

	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.RunMain(m)) }

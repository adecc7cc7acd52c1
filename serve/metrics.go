package serve

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a registry of its own
// (not the global one) so that several servers, as in tests, never collide.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	held     prometheus.Gauge
	holds    prometheus.Counter
	switches prometheus.Counter
	active   *prometheus.GaugeVec
	canary   *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scd_serve_requests_total",
			Help: "Requests answered, by release, status code and content coding sent.",
		}, []string{"release", "code", "encoding"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scd_serve_request_duration_seconds",
			Help: "Time from the request to the end of the response, time spent held included, by route (static, preview).",
			// From 50µs (a cached small file on loopback) to the
			// default hold timeout.
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scd_serve_held_requests",
			Help: "Requests waiting for a hold to end.",
		}),
		holds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scd_serve_holds_total",
			Help: "Holds opened.",
		}),
		switches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scd_serve_switches_total",
			Help: "Times the active release changed.",
		}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scd_serve_active_release",
			Help: "1 for the release being served.",
		}, []string{"release"}),
		canary: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scd_serve_canary_percent",
			Help: "Share of clients sent to the canary release.",
		}, []string{"release"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.held, m.holds, m.switches, m.active, m.canary,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(route, release string, code int, enc Encoding, seconds float64) {
	m.requests.WithLabelValues(release, strconv.Itoa(code), enc.Token()).Inc()
	m.latency.WithLabelValues(route).Observe(seconds)
}

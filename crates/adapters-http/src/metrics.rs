//! Prometheus metrics: request counts and latencies by matched route pattern, business outcomes,
//! and queue gauges refreshed at scrape time.

use domain::{ConcertId, QueueStats};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::Arc;
use std::time::Duration;

/// The route label of requests that matched no route (keeps label cardinality bounded).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The method label of any method but the standard ones of [`method_label`].
pub const OTHER_METHOD: &str = "OTHER";

/// The `method` label of a request: one of a fixed set, so that a client sending made-up
/// methods cannot grow the number of series.
#[must_use]
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => OTHER_METHOD,
    }
}

struct Inner {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    holds: IntCounterVec,
    payments: IntCounterVec,
    refunds: IntCounterVec,
    charges: IntCounterVec,
    queue_joins: IntCounter,
    queue_waiting: IntGaugeVec,
    queue_active: IntGaugeVec,
}

/// The service's metrics and the registry that owns them. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)
        .expect("static metric definitions are valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique within the registry");
    metric
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels)
        .expect("static metric definitions are valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique within the registry");
    metric
}

impl Metrics {
    /// A fresh registry with every metric of the service registered.
    #[must_use]
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = counter_vec(
            &registry,
            "http_requests_total",
            "HTTP requests by matched route pattern, method and status.",
            &["route", "method", "status"],
        );
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by matched route pattern, method and status.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method", "status"],
        )
        .expect("static metric definitions are valid");
        registry
            .register(Box::new(http_duration.clone()))
            .expect("metric names are unique within the registry");
        let holds = counter_vec(
            &registry,
            "holds_total",
            "Seat hold attempts by outcome (ok or the error code).",
            &["outcome"],
        );
        let payments = counter_vec(
            &registry,
            "payments_total",
            "Payment attempts by outcome (ok, replayed or the error code).",
            &["outcome"],
        );
        let refunds = counter_vec(
            &registry,
            "refunds_total",
            "Refund attempts by outcome (ok, replayed or the error code).",
            &["outcome"],
        );
        let charges = counter_vec(
            &registry,
            "charges_total",
            "Wallet charge attempts by outcome (ok, replayed or the error code).",
            &["outcome"],
        );
        let queue_joins = IntCounter::new("queue_joins_total", "New queue tokens issued.")
            .expect("static metric definitions are valid");
        registry
            .register(Box::new(queue_joins.clone()))
            .expect("metric names are unique within the registry");
        let queue_waiting = gauge_vec(
            &registry,
            "queue_waiting",
            "Tokens waiting per concert (refreshed at scrape time).",
            &["concert_id"],
        );
        let queue_active = gauge_vec(
            &registry,
            "queue_active",
            "Tokens active per concert (refreshed at scrape time).",
            &["concert_id"],
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_duration,
                holds,
                payments,
                refunds,
                charges,
                queue_joins,
                queue_waiting,
                queue_active,
            }),
        }
    }

    /// The registry, for registering more collectors.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Records one finished HTTP request (`method` is reduced by [`method_label`]).
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [route, method_label(method), status.as_str()];
        self.inner.http_requests.with_label_values(&labels).inc();
        self.inner
            .http_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Records a hold attempt's outcome.
    pub fn record_hold(&self, outcome: &str) {
        self.inner.holds.with_label_values(&[outcome]).inc();
    }

    /// Records a payment attempt's outcome.
    pub fn record_payment(&self, outcome: &str) {
        self.inner.payments.with_label_values(&[outcome]).inc();
    }

    /// Records a refund attempt's outcome.
    pub fn record_refund(&self, outcome: &str) {
        self.inner.refunds.with_label_values(&[outcome]).inc();
    }

    /// Records a charge attempt's outcome.
    pub fn record_charge(&self, outcome: &str) {
        self.inner.charges.with_label_values(&[outcome]).inc();
    }

    /// Records a newly issued queue token.
    pub fn record_queue_join(&self) {
        self.inner.queue_joins.inc();
    }

    /// Replaces the queue gauges with a fresh reading.
    pub fn set_queue_stats(&self, stats: &[(ConcertId, QueueStats)]) {
        self.inner.queue_waiting.reset();
        self.inner.queue_active.reset();
        for (concert, s) in stats {
            let label = concert.get().to_string();
            let waiting = i64::try_from(s.waiting).unwrap_or(i64::MAX);
            let active = i64::try_from(s.active).unwrap_or(i64::MAX);
            self.inner
                .queue_waiting
                .with_label_values(&[label.as_str()])
                .set(waiting);
            self.inner
                .queue_active
                .with_label_values(&[label.as_str()])
                .set(active);
        }
    }

    /// Everything in the registry, in the Prometheus text format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.inner.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_recorded_metrics() {
        let m = Metrics::new();
        m.observe_request(
            "/api/v1/reservations/{id}",
            "GET",
            200,
            Duration::from_millis(3),
        );
        m.record_hold("ok");
        m.record_queue_join();
        let text = m.render();
        assert!(text.contains(
            r#"http_requests_total{method="GET",route="/api/v1/reservations/{id}",status="200"} 1"#
        ));
        assert!(text.contains("http_request_duration_seconds_bucket"));
        assert!(text.contains(r#"holds_total{outcome="ok"} 1"#));
        assert!(text.contains("queue_joins_total 1"));
    }

    #[test]
    fn the_method_label_takes_a_fixed_set_of_values() {
        // Arrange
        let m = Metrics::new();

        // Act
        for method in ["GET", "BREW", "get", "PROPFIND", "X-ANYTHING-1"] {
            m.observe_request(UNMATCHED_ROUTE, method, 405, Duration::from_millis(1));
        }

        // Assert
        let text = m.render();
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="unmatched",status="405"} 1"#)
        );
        assert!(text
            .contains(r#"http_requests_total{method="OTHER",route="unmatched",status="405"} 4"#));
        for made_up in ["BREW", "get", "PROPFIND", "X-ANYTHING-1"] {
            assert!(!text.contains(made_up), "{made_up} became a label value");
        }
        for standard in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
            assert_eq!(method_label(standard), standard);
        }
    }
}

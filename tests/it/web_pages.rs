//! The public pages a member reaches from a mail: the unsubscribe link
//! shows a page (a link scanner's GET changes nothing), offers the other
//! delivery modes, and only a POST unsubscribes (RFC 8058). Forged tokens
//! get a 404, the health check and metrics answer, and deliveries are
//! counted as they are attempted.

use crate::common::*;
use gazette::email::EmailAddress;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_page_offers_modes_and_only_post_acts() {
    for db in databases().await {
        eprintln!("--- web pages on {}", db.label);
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let sink = Sink::start(SinkBehaviour::default()).await;
        let app = spawn_app(&db, &sink.url(), &[("GAZETTE_METRICS_ADDR", &metrics_addr)]).await;
        let list = seed_list(&app.ctx, 2).await;
        let e = EmailAddress::parse("m1@example.org").unwrap();
        let m = gazette::membership::find(&app.ctx, &list, &e)
            .await
            .unwrap()
            .unwrap();
        let url = list.unsubscribe_url(&app.ctx.keys, m.id);
        let mode_of = || async {
            gazette::membership::find(&app.ctx, &list, &e)
                .await
                .unwrap()
                .unwrap()
        };

        let (status, page) = http("GET", &url, "").await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"mode-every\""), "{page}");
        assert!(page.contains("(now)"), "the current mode is marked: {page}");
        assert_eq!(
            mode_of().await.status.as_str(),
            "active",
            "GET changes nothing"
        );

        let (status, page) = http("POST", &format!("{url}/mode"), "mode=every").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(mode_of().await.mode.as_str(), "every");
        let (status, _) = http("POST", &format!("{url}/mode"), "mode=hourly").await;
        assert_eq!(status, 400);
        assert_eq!(mode_of().await.mode.as_str(), "every");

        let forged = format!(
            "http://{}/unsubscribe/aaaaaaaaaaaaaaaaaaaaaaaaaa",
            app.http_addr
        );
        assert_eq!(http("GET", &forged, "").await.0, 404);
        assert_eq!(
            http("POST", &forged, "List-Unsubscribe=One-Click").await.0,
            404
        );
        assert_eq!(mode_of().await.status.as_str(), "active");

        let (status, _) = http("POST", &url, "List-Unsubscribe=One-Click").await;
        assert_eq!(status, 200);
        assert_eq!(mode_of().await.status.as_str(), "unsubscribed");

        let base = format!("http://{}", app.http_addr);
        assert_eq!(http("GET", &format!("{base}/healthz"), "").await.0, 200);
        let scrape = || async {
            let (status, body) = http("GET", &format!("http://{metrics_addr}/metrics"), "").await;
            assert_eq!(status, 200);
            body
        };
        let accepted = |metrics: &str| -> f64 {
            metrics
                .lines()
                .find(|l| {
                    l.starts_with("gazette_inbound_messages_total")
                        && l.contains("status=\"accepted\"")
                        && l.contains("kind=\"ordinary\"")
                })
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or(0.0)
        };
        let before = scrape().await;
        assert!(
            before.contains("gazette_outbox_oldest_due_seconds "),
            "{before}"
        );
        assert!(before.contains("gazette_inbound_unhandled 0"), "{before}");
        // Counted where it happens: one more question, one more in the counter.
        let q = mail(
            "m0@example.org",
            LIST_ADDRESS,
            "Counted?",
            "A question.",
            "counted@example.org",
        );
        smtp_send(app.smtp_addr, "m0@example.org", LIST_ADDRESS, &q)
            .await
            .unwrap();
        let after = scrape().await;
        assert!(accepted(&after) >= accepted(&before) + 1.0, "{after}");
        // The question's acknowledgement goes to the relay: counted by
        // kind and result, and the transaction's time is in its histogram.
        wait_for(30, "the acknowledgement's attempt counted", || async {
            let m = scrape().await;
            let counted = m.lines().any(|l| {
                l.starts_with("gazette_deliveries_total{")
                    && l.contains("kind=\"notice\"")
                    && l.contains("result=")
            });
            (counted && m.contains("gazette_relay_transaction_seconds_bucket")).then_some(())
        })
        .await;
        app.stop().await;
    }
}

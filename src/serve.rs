//! `gazette serve`: every part in one process, stopped cleanly on SIGINT or
//! SIGTERM (listeners stop accepting, in-flight sends finish, claimed but
//! unsent outbox rows are handed back).

use crate::app::Ctx;
use crate::config::Config;
use crate::inbound::{listener::Handler, pipeline::resume_unhandled, smtp};
use crate::outbound::transport::Transport;
use crate::web::server as web;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A running gazette: what `serve` starts, and what tests start on free ports.
pub struct Running {
    pub ctx: Ctx,
    pub http_addr: SocketAddr,
    pub smtp_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    if let Some(l) = crate::net::raise_open_file_limit() {
        tracing::info!(was = l.was, soft = l.soft, hard = l.hard, "open-file limit");
    }
    let running = start(config).await?;
    wait_for_signal().await;
    running.stop().await;
    Ok(())
}

/// Binds the listeners and starts every part; returns once all are running.
pub async fn start(mut config: Config) -> anyhow::Result<Running> {
    crate::telemetry::install();
    let http = crate::net::listen(config.http_addr).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen for HTTP on {}: {e}. Set GAZETTE_HTTP_ADDR to a free address.",
            config.http_addr
        )
    })?;
    let inbound = crate::net::listen(config.inbound_addr).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen for SMTP on {}: {e}. Set GAZETTE_INBOUND_ADDR to a free address.",
            config.inbound_addr
        )
    })?;
    if config.base_url_follows_http && config.http_addr.port() == 0 {
        // Port 0 picked a free port: links must name the one we got.
        config.base_url = format!("http://{}", http.local_addr()?);
    }
    let ctx = Ctx::open(config).await?;
    let cfg = ctx.config.clone();
    let metrics = match cfg.metrics_addr {
        Some(addr) => Some(crate::net::listen(addr).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen for metrics on {addr}: {e}. Set GAZETTE_METRICS_ADDR to a free address, or leave it empty."
            )
        })?),
        None => None,
    };
    let (http_addr, smtp_addr) = (http.local_addr()?, inbound.local_addr()?);
    tracing::info!(http = %http_addr, smtp = %smtp_addr, outbound = %cfg.smtp_url, "gazette is running");
    let http_limits = http_limits(&cfg);
    match resume_unhandled(&ctx).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            count = n,
            "finished handling messages interrupted by the last stop"
        ),
        Err(e) => tracing::warn!(error = %e, "could not resume unhandled inbound messages"),
    }
    let (stop, stopped) = watch::channel(false);
    let transport = Arc::new(Transport::new(
        &cfg.smtp,
        &cfg.hostname,
        cfg.smtp_max_connections,
        cfg.smtp_rate_per_sec,
    ));

    let mut tasks = JoinSet::new();
    let router = crate::web::router(ctx.clone());
    tasks.spawn(web::serve(http, router, http_limits, stopped.clone()));
    if let Some(listener) = metrics {
        let limits = web::Limits {
            max_connections: METRICS_CONNECTIONS,
            header_timeout: cfg.http_header_timeout,
        };
        let router = crate::web::metrics_router(ctx.clone());
        tracing::info!(addr = ?listener.local_addr().ok(), "metrics listening");
        tasks.spawn(web::serve(listener, router, limits, stopped.clone()));
    }
    let smtp_config = smtp::ServerConfig {
        hostname: cfg.hostname.clone(),
        max_message_bytes: cfg.max_message_bytes,
        command_timeout: cfg.inbound_command_timeout,
        data_timeout: cfg.inbound_idle_timeout,
        max_recipients: 100,
        max_connections: smtp::MAX_SESSIONS,
        max_per_client: cfg.inbound_max_per_client,
        connects_per_minute: cfg.inbound_connects_per_minute,
    };
    let handler = Arc::new(Handler { ctx: ctx.clone() });
    let smtp_stop = stopped.clone();
    tasks.spawn(async move {
        if let Err(e) = smtp::serve(inbound, smtp_config, handler, smtp_stop).await {
            tracing::error!(error = %e, "SMTP listener stopped");
        }
    });
    tasks.spawn(crate::digest::scheduler::run(ctx.clone(), stopped.clone()));
    tasks.spawn(resume_periodically(ctx.clone(), stopped.clone()));
    tasks.spawn(crate::retention::run(ctx.clone(), stopped.clone()));
    tasks.spawn(notices_periodically(ctx.clone(), stopped.clone()));
    tasks.spawn(crate::outbound::worker::run(
        ctx.clone(),
        transport,
        stopped,
    ));
    Ok(Running {
        ctx,
        http_addr,
        smtp_addr,
        stop,
        tasks,
    })
}

/// Connections the metrics listener serves at once.
const METRICS_CONNECTIONS: usize = 16;

/// The public listener's limits: the configured connection cap, lowered
/// when the open-file limit leaves too little room beside SMTP.
fn http_limits(cfg: &Config) -> web::Limits {
    let limit = crate::net::open_file_limit();
    let (cap, warning) = crate::net::http_connection_cap(
        cfg.http_max_connections,
        limit,
        smtp::MAX_SESSIONS + METRICS_CONNECTIONS,
        cfg.smtp_max_connections,
    );
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    tracing::info!(
        open_files = ?limit,
        http_connections = cap,
        smtp_sessions = smtp::MAX_SESSIONS,
        "connection limits"
    );
    web::Limits {
        max_connections: cap,
        header_timeout: cfg.http_header_timeout,
    }
}

impl Running {
    /// Stops accepting work, lets in-flight work finish (30 s at most).
    pub async fn stop(mut self) {
        tracing::info!("stopping: finishing in-flight work");
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(Duration::from_secs(30), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "some work did not finish within 30 s; leases will hand it to the next run"
            );
        }
        self.ctx.store.close().await;
        tracing::info!("stopped");
    }
}

/// Messages whose handling failed for a passing reason (the database was
/// away) are tried again when their backoff ends, whoever received them;
/// looking costs one indexed query.
async fn resume_periodically(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_secs(30));
    interval.tick().await; // start-up already resumed once
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(e) = resume_unhandled(&ctx).await {
                    tracing::warn!(error = %e, "could not resume unhandled inbound messages");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Answers that waited for their hour go to the askers (see
/// [`crate::notices::answers`]), checked every minute.
async fn notices_periodically(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(e) = crate::notices::answers::flush(&ctx, crate::now_ms()).await {
                    tracing::warn!(error = %e, "could not send the answer notices due; retrying in a minute");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

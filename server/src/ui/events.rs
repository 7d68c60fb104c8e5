//! Live updates over Server-Sent Events: `GET /ui/events` tells an open page which incidents
//! changed (`event: changed`), and the page asks the server for what it shows again (htmx
//! `hx-trigger="sse:changed"`), so rows appear and change without a reload. The in-app
//! channel's events (what the chat providers are sent) come as `event: feed`, one JSON each.

use super::session::Signed;
use crate::app::AppState;
use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// `GET /ui/events`.
pub async fn stream(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
) -> Response {
    // Listening is reading incidents: the app layer says whether this caller may.
    if let Err(error) = app::authorize(&signed.session.caller, app::Operation::ListIncidents) {
        return super::pages::refusal_page(axum::http::StatusCode::FORBIDDEN, &error.to_string())
            .into_response();
    }
    let receiver = state.app.pipeline.listen();
    let changed = futures::stream::unfold(receiver, |mut receiver| async move {
        let data = match receiver.recv().await {
            Ok(ids) => ids.join(" "),
            // Fell behind: everything may have changed.
            Err(RecvError::Lagged(_)) => "*".to_owned(),
            Err(RecvError::Closed) => return None,
        };
        let event = Event::default().event("changed").data(data);
        Some((Ok::<_, std::convert::Infallible>(event), receiver))
    });
    let feed = futures::stream::unfold(
        state.channels.feed().subscribe(),
        |mut receiver| async move {
            loop {
                let data = match receiver.recv().await {
                    Ok(item) => match serde_json::to_string(&item) {
                        Ok(json) => json,
                        Err(_) => continue,
                    },
                    // Fell behind: the items missed are in the channels' list.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                };
                let event = Event::default().event("feed").data(data);
                return Some((Ok::<_, std::convert::Infallible>(event), receiver));
            }
        },
    );
    let events = futures::stream::select(changed.boxed(), feed.boxed());
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

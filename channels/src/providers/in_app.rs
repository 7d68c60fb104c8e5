//! The in-app feed: the workspace's live view (SSE) subscribes to it and gets the same
//! events the chat providers get; the latest ones are kept for a page that opens later.

use crate::event::ChannelEvent;
use parking_lot::Mutex;
use std::collections::VecDeque;
use tokio::sync::broadcast;

/// Events kept for late readers.
pub const FEED_KEEP: usize = 200;

/// One item of the feed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FeedItem {
    /// The in-app provider it was routed to.
    pub provider: String,
    pub event: ChannelEvent,
}

/// The feed: a broadcast to live subscribers and the latest items.
#[derive(Debug)]
pub struct Feed {
    tx: broadcast::Sender<FeedItem>,
    recent: Mutex<VecDeque<FeedItem>>,
}

impl Default for Feed {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            recent: Mutex::new(VecDeque::new()),
        }
    }
}

impl Feed {
    pub fn publish(&self, item: FeedItem) {
        {
            let mut recent = self.recent.lock();
            recent.push_back(item.clone());
            while recent.len() > FEED_KEEP {
                recent.pop_front();
            }
        }
        // No subscriber is not an error: the item is kept in `recent`.
        let _ = self.tx.send(item);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FeedItem> {
        self.tx.subscribe()
    }

    pub fn recent(&self) -> Vec<FeedItem> {
        self.recent.lock().iter().cloned().collect()
    }
}

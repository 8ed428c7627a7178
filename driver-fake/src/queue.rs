//! A queue with a broker's delivery rules: messages go round robin to the
//! consumers subscribed to it, and wait in a backlog while there are none.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

/// What a consumer receives: the message and the queue it came from (so it
/// can be given back on requeue or when the consumer stops).
pub(crate) type Delivered<T> = (Arc<Queue<T>>, T);
pub(crate) type ConsumerTx<T> = mpsc::UnboundedSender<Delivered<T>>;

pub(crate) struct Queue<T> {
    pub(crate) name: String,
    state: Mutex<State<T>>,
}

struct State<T> {
    backlog: VecDeque<T>,
    consumers: Vec<(u64, ConsumerTx<T>)>,
    next: usize,
}

impl<T: Send + 'static> Queue<T> {
    pub(crate) fn new(name: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            state: Mutex::new(State {
                backlog: VecDeque::new(),
                consumers: Vec::new(),
                next: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A poisoned lock only means a panic elsewhere; the queue data stays valid.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deliver to the next consumer, or keep in the backlog.
    pub(crate) fn publish(self: &Arc<Self>, item: T) {
        let mut st = self.lock();
        Self::deliver(self, &mut st, item, false);
    }

    /// Give a message back (requeue): it is delivered again before newer ones.
    pub(crate) fn requeue(self: &Arc<Self>, item: T) {
        let mut st = self.lock();
        Self::deliver(self, &mut st, item, true);
    }

    fn deliver(this: &Arc<Self>, st: &mut State<T>, mut item: T, front: bool) {
        while !st.consumers.is_empty() {
            let i = st.next % st.consumers.len();
            st.next = st.next.wrapping_add(1);
            match st.consumers[i].1.send((this.clone(), item)) {
                Ok(()) => return,
                Err(mpsc::error::SendError((_, back))) => {
                    // The consumer went away without unsubscribing.
                    st.consumers.remove(i);
                    item = back;
                }
            }
        }
        if front {
            st.backlog.push_front(item);
        } else {
            st.backlog.push_back(item);
        }
    }

    /// Add a consumer; the backlog is delivered round robin at once.
    pub(crate) fn subscribe(self: &Arc<Self>, id: u64, tx: ConsumerTx<T>) {
        let mut st = self.lock();
        st.consumers.push((id, tx));
        while let Some(item) = st.backlog.pop_front() {
            Self::deliver(self, &mut st, item, false);
            if st.consumers.is_empty() {
                break;
            }
        }
    }

    /// Remove a consumer; it will receive nothing more.
    pub(crate) fn unsubscribe(&self, id: u64) {
        self.lock().consumers.retain(|(c, _)| *c != id);
    }

    #[cfg(test)]
    pub(crate) fn backlog_len(&self) -> usize {
        self.lock().backlog.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_robin_backlog_and_requeue() {
        let q = Queue::<u32>::new("q");
        q.publish(1);
        q.publish(2);
        assert_eq!(q.backlog_len(), 2);
        let (a_tx, mut a) = mpsc::unbounded_channel();
        let (b_tx, mut b) = mpsc::unbounded_channel();
        q.subscribe(1, a_tx);
        assert_eq!(a.recv().await.map(|d| d.1), Some(1));
        assert_eq!(a.recv().await.map(|d| d.1), Some(2));
        q.subscribe(2, b_tx);
        for i in 3..7 {
            q.publish(i);
        }
        let got_a: Vec<u32> = [a.recv().await, a.recv().await]
            .into_iter()
            .flatten()
            .map(|d| d.1)
            .collect();
        let got_b: Vec<u32> = [b.recv().await, b.recv().await]
            .into_iter()
            .flatten()
            .map(|d| d.1)
            .collect();
        assert_eq!(got_a.len() + got_b.len(), 4);
        assert_eq!(got_a.len(), 2, "round robin gives each consumer half");
        q.unsubscribe(1);
        q.unsubscribe(2);
        q.requeue(9);
        q.publish(10);
        assert_eq!(q.backlog_len(), 2);
        let (c_tx, mut c) = mpsc::unbounded_channel();
        q.subscribe(3, c_tx);
        assert_eq!(c.recv().await.map(|d| d.1), Some(9));
        assert_eq!(c.recv().await.map(|d| d.1), Some(10));
    }
}

//! What a tracing subscriber learns of a block: one `block` span, its
//! phases inside it, and the engine's events inside the phase that ran
//! them.

mod common;

use std::sync::{Arc, Mutex, PoisonError};

use common::*;
use parex_engine::FallbackReason;
use parex_node::workload::{generate_block_txs, Workload};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Records every span as the path of names from the root with its fields
/// (`block{topoheight=1}/execute`), and every event's message with the
/// path of the span it happened in.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<String>>>,
    events: Arc<Mutex<Vec<(String, String)>>>,
}

#[derive(Default)]
struct Fields {
    text: String,
    message: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.text += &format!(
                "{}{}={value:?}",
                if self.text.is_empty() { "" } else { " " },
                field.name()
            );
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let parents = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| path_of(parent.scope().from_root().map(|s| s.name())))
            .unwrap_or_default();
        let this = if fields.text.is_empty() {
            attrs.metadata().name().to_owned()
        } else {
            format!("{}{{{}}}", attrs.metadata().name(), fields.text)
        };
        let path = if parents.is_empty() {
            this
        } else {
            format!("{parents}/{this}")
        };
        lock(&self.spans).push(path);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let scope = ctx
            .event_scope(event)
            .map(|scope| path_of(scope.from_root().map(|s| s.name())))
            .unwrap_or_default();
        lock(&self.events).push((scope, fields.message));
    }
}

fn path_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join("/")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn a_block_is_one_span_with_its_phases_and_the_engine_logs_inside_them() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let (mut chain, mut accounts) = chain(64, parallel());
    let mut fallbacks = 0;
    tracing::subscriber::with_default(subscriber, || {
        for height in 1..=3 {
            // A chain of transfers: Block-STM halts it and hands it over.
            let txs = generate_block_txs(Workload::Chain, &mut accounts, 100, height);
            let block = chain.build_block(miner().public_key(), height, txs);
            let summary = chain.add_new_block(block).unwrap();
            if summary.stats.fallback_reason == Some(FallbackReason::Contention) {
                fallbacks += 1;
            }
        }
        // A refused block has its span and no commit.
        let txs = generate_block_txs(Workload::Uniform, &mut accounts, 4, 9);
        let mut block = chain.build_block(miner().public_key(), 4, txs);
        block.header.topoheight = 7;
        chain.add_new_block(block).unwrap_err();
    });
    let spans = lock(&recorder.spans).clone();
    for height in 1..=3 {
        let block = format!("block{{topoheight={height}}}");
        let expected: Vec<String> = std::iter::once(block.clone())
            .chain(
                ["verify", "prefetch", "execute{path=parallel}", "commit"]
                    .iter()
                    .map(|phase| format!("block/{phase}")),
            )
            .collect();
        let start = spans
            .iter()
            .position(|span| *span == block)
            .unwrap_or_else(|| panic!("no span {block} in {spans:?}"));
        assert_eq!(spans[start..start + 5], expected[..], "{spans:?}");
    }
    assert_eq!(
        spans[spans.len() - 2..],
        ["block{topoheight=7}".to_owned(), "block/verify".to_owned()],
        "{spans:?}"
    );
    // Every block Block-STM handed over was logged from inside `execute`.
    assert!(fallbacks >= 1, "no block of a chain was handed over");
    let handed_over: Vec<_> = lock(&recorder.events)
        .iter()
        .filter(|(_, message)| message.starts_with("Block-STM hands"))
        .map(|(scope, _)| scope.clone())
        .collect();
    assert_eq!(
        handed_over,
        vec!["block/execute".to_owned(); fallbacks],
        "{handed_over:?}"
    );
}

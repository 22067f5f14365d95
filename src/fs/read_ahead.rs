//! Read-ahead for a handle that bypasses the mount's page cache and is read
//! from one end towards the other (`cat`, `cp`, a backup). A thread reads the
//! backing object's ciphertext ahead in blocks, into buffers it reuses, with
//! O_DIRECT where the backing filesystem allows it, so that each request finds
//! its bytes in memory and neither the plaintext nor the ciphertext of the
//! stream passes through a page cache. Nothing is decrypted ahead: every
//! request still authenticates its chunks. Must not import fuser.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

/// One block read ahead: the ciphertext bytes the reader reads at a time.
const BLOCK: usize = 1024 * 1024;
/// Blocks read ahead of the reader, per stream.
const DEPTH: usize = 4;
/// O_DIRECT wants buffers, offsets and lengths aligned to the logical block
/// size of the disk; 4 KiB covers every disk Linux has.
const ALIGN: usize = 4096;
/// Streams read ahead at once in the whole daemon: each holds up to
/// `DEPTH` blocks, so the daemon's memory stays bounded however many large
/// files are open.
const MAX_STREAMS: usize = 8;

static STREAMS: AtomicUsize = AtomicUsize::new(0);

/// The blocks of one stream: those received, and the reading thread's queue.
pub struct ReadAhead {
    /// The file's content generation the blocks were read at.
    generation: u64,
    /// Received blocks in file order; the first one still wanted.
    held: VecDeque<Block>,
    /// Where the block after the last held one starts.
    next: u64,
    /// The reading thread's blocks, `None` once it reached the end.
    filled: Option<Receiver<io::Result<Block>>>,
    /// Buffers handed back to the thread for reuse.
    free: Sender<Vec<u8>>,
    _slot: StreamSlot,
}

/// `len` bytes of the file at `start`, at `buf[at..]`.
struct Block {
    start: u64,
    buf: Vec<u8>,
    at: usize,
    len: usize,
}

impl Block {
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }
}

/// One of the `MAX_STREAMS`, given back on drop.
struct StreamSlot;

impl StreamSlot {
    fn take() -> Option<StreamSlot> {
        STREAMS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_STREAMS).then_some(n + 1)
            })
            .ok()
            .map(|_| StreamSlot)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        STREAMS.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ReadAhead {
    /// Whether a stream could start now (fewer than `MAX_STREAMS` read
    /// ahead), so that a reader does not reopen its file for nothing.
    pub fn has_room() -> bool {
        STREAMS.load(Ordering::Acquire) < MAX_STREAMS
    }

    /// Starts reading `file` ahead from `from` (rounded down to the
    /// alignment); `None` when the daemon already reads `MAX_STREAMS` ahead.
    pub fn start(file: File, from: u64, generation: u64) -> Option<ReadAhead> {
        let slot = StreamSlot::take()?;
        let first = from - from % ALIGN as u64;
        let (filled_tx, filled) = mpsc::sync_channel(DEPTH);
        let (free, free_rx) = mpsc::channel();
        for _ in 0..DEPTH {
            free.send(Vec::new()).ok()?;
        }
        std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || read_blocks(&file, first, &free_rx, &filled_tx))
            .ok()?;
        Some(ReadAhead {
            generation,
            held: VecDeque::new(),
            next: first,
            filled: Some(filled),
            free,
            _slot: slot,
        })
    }

    /// Whether the blocks were read at `generation` of the file's content.
    pub fn is_current(&self, generation: u64) -> bool {
        self.generation == generation
    }

    /// Fills `dst` with the file's bytes at `at`, waiting for the thread as
    /// needed. `Ok(false)`: the bytes are not ahead of this stream (the
    /// reader went back or far ahead, or past where the thread found the
    /// file's end: the file may have grown since); the caller reads them
    /// itself.
    pub fn copy(&mut self, at: u64, dst: &mut [u8]) -> io::Result<bool> {
        let end = at + dst.len() as u64;
        let window_start = self.held.front().map_or(self.next, |b| b.start);
        if at < window_start || at > self.next + (DEPTH * BLOCK) as u64 {
            return Ok(false);
        }
        while self.held.front().is_some_and(|b| b.end() <= at) {
            self.recycle_first();
        }
        while self.next < end {
            let Some(block) = self.receive()? else {
                return Ok(false);
            };
            self.next = block.end();
            if block.end() <= at {
                let _ = self.free.send(block.buf);
            } else {
                self.held.push_back(block);
            }
        }
        for block in &self.held {
            let from = at.max(block.start);
            let to = end.min(block.end());
            if from < to {
                let src = block.at + (from - block.start) as usize;
                let out = (from - at) as usize;
                let len = (to - from) as usize;
                dst[out..out + len].copy_from_slice(&block.buf[src..src + len]);
            }
        }
        Ok(true)
    }

    /// The next block from the thread; `None` at the end of the file.
    fn receive(&mut self) -> io::Result<Option<Block>> {
        let Some(filled) = &self.filled else {
            return Ok(None);
        };
        match filled.recv() {
            Ok(Ok(block)) if block.len > 0 => Ok(Some(block)),
            Ok(Err(e)) => {
                self.filled = None;
                Err(e)
            }
            // An empty block, or the thread gone: the end of the file.
            Ok(Ok(_)) | Err(_) => {
                self.filled = None;
                Ok(None)
            }
        }
    }

    fn recycle_first(&mut self) {
        if let Some(block) = self.held.pop_front() {
            let _ = self.free.send(block.buf);
        }
    }
}

/// The thread: reads `file` from `at` block by block into the buffers it is
/// given back, until the end of the file, an error, or the stream's end.
fn read_blocks(
    file: &File,
    mut at: u64,
    free: &Receiver<Vec<u8>>,
    filled: &SyncSender<io::Result<Block>>,
) {
    while let Ok(mut buf) = free.recv() {
        if buf.len() < BLOCK + ALIGN {
            buf = vec![0; BLOCK + ALIGN];
        }
        let start = buf.as_ptr().align_offset(ALIGN);
        let read = read_full(file, &mut buf[start..start + BLOCK], at);
        let last = !matches!(read, Ok(BLOCK));
        let block = read.map(|len| Block {
            start: at,
            buf,
            at: start,
            len,
        });
        if filled.send(block).is_err() || last {
            return;
        }
        at += BLOCK as u64;
    }
}

/// Reads `buf.len()` bytes at `at`, fewer only at the end of the file. A
/// regular file reads short only there (and O_DIRECT could not go on from an
/// unaligned place anyway).
fn read_full(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, at) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            read => return read,
        }
    }
}

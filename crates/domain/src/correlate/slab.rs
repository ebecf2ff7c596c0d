//! A slab with generation-checked handles: the correlation engine's alerts, keys and
//! incidents refer to each other by [`Ref`] instead of by owned id strings, so placing an
//! alert hashes each string once and clones none.
//!
//! Slots are reused after removal (the engine's memory follows the window), so a handle
//! carries the generation of the slot it was made for: a handle to something pruned reads as
//! absent rather than as whatever took its slot.

/// A handle to a slab entry: eight bytes, so the handles that fill the engine's tables,
/// sightings and member lists take half the cache lines a `usize` index took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Ref {
    ix: u32,
    generation: u32,
}

impl Ref {
    /// The slot it names: distinct among the slab's live entries.
    pub(super) fn slot(self) -> u32 {
        self.ix
    }
}

#[derive(Debug, Clone)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

#[derive(Debug, Clone)]
pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(super) fn insert(&mut self, value: T) -> Ref {
        self.len += 1;
        if let Some(ix) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(ix as usize) {
                slot.value = Some(value);
                return Ref {
                    ix,
                    generation: slot.generation,
                };
            }
        }
        // Four billion live entries of at least 40 bytes each would be 160 GB: past that a
        // handle would name no slot, and its entry would read as absent.
        let ix = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        Ref { ix, generation: 0 }
    }

    pub(super) fn get(&self, r: Ref) -> Option<&T> {
        self.slots
            .get(r.ix as usize)
            .filter(|s| s.generation == r.generation)
            .and_then(|s| s.value.as_ref())
    }

    pub(super) fn get_mut(&mut self, r: Ref) -> Option<&mut T> {
        self.slots
            .get_mut(r.ix as usize)
            .filter(|s| s.generation == r.generation)
            .and_then(|s| s.value.as_mut())
    }

    pub(super) fn contains(&self, r: Ref) -> bool {
        self.get(r).is_some()
    }

    pub(super) fn remove(&mut self, r: Ref) -> Option<T> {
        let slot = self
            .slots
            .get_mut(r.ix as usize)
            .filter(|s| s.generation == r.generation)?;
        let v = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(r.ix);
        self.len -= 1;
        Some(v)
    }

    /// Keeps the entries `keep` accepts; the others' slots are freed and their handles die.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        for (ix, slot) in self.slots.iter_mut().enumerate() {
            let Some(v) = slot.value.as_mut() else {
                continue;
            };
            if !keep(v) {
                slot.value = None;
                slot.generation = slot.generation.wrapping_add(1);
                // Slots past u32::MAX are never made (see `insert`).
                self.free.push(u32::try_from(ix).unwrap_or(u32::MAX));
                self.len -= 1;
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Every live entry with its handle (for invariant checks).
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (Ref, &T)> {
        self.slots.iter().enumerate().filter_map(|(ix, s)| {
            s.value.as_ref().map(|v| {
                (
                    Ref {
                        ix: u32::try_from(ix).unwrap_or(u32::MAX),
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::Slab;

    #[test]
    fn a_handle_to_a_removed_entry_stays_dead_when_its_slot_is_reused() {
        let mut s = Slab::default();
        let a = s.insert("a");
        let b = s.insert("b");
        s.retain(|v| *v != "a");
        assert_eq!(s.get(a), None);
        let c = s.insert("c");
        assert_eq!(s.get(a), None, "the old handle must not see the new entry");
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 2);
    }
}

//! Compressed sparse rows: the one transpose the core needs (links grouped by their end node,
//! flows grouped by the flow they wait on).

/// Group items by key: `(key, item)` pairs in iteration order, every key in `0..n_keys`.
/// Returns `(ptr, items)`: key `k`'s items are `items[ptr[k]..ptr[k + 1]]`, in the order the
/// pairs came (so items visited in increasing order stay sorted).
pub(crate) fn group_by_key<I>(n_keys: usize, pairs: I) -> (Vec<usize>, Vec<u32>)
where
    I: Iterator<Item = (usize, u32)> + Clone,
{
    let mut ptr = vec![0usize; n_keys + 1];
    for (k, _) in pairs.clone() {
        ptr[k + 1] += 1;
    }
    for i in 0..n_keys {
        ptr[i + 1] += ptr[i];
    }
    let mut fill = ptr.clone();
    let mut items = vec![0u32; ptr[n_keys]];
    for (k, item) in pairs {
        items[fill[k]] = item;
        fill[k] += 1;
    }
    (ptr, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_in_order() {
        let keys = [2usize, 0, 2, 1, 0];
        let (ptr, items) = group_by_key(4, keys.iter().enumerate().map(|(i, &k)| (k, i as u32)));
        assert_eq!(ptr, vec![0, 2, 3, 5, 5]);
        assert_eq!(items, vec![1, 4, 3, 0, 2]);
    }
}

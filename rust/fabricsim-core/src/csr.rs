//! Compressed sparse rows: the one transpose the core needs (the links into and out of every
//! node, the successors of every flow).

/// The transpose of a sparse 0/1 matrix in CSR form: row `i` has entries in the columns
/// `idx[ptr[i]..ptr[i + 1]]` (every one `< n_cols`; `ptr` starts at 0 and ends at `idx.len()`).
/// Returns `(ptr, rows)`: column `c` has entries in the rows `rows[ptr[c]..ptr[c + 1]]`, in
/// increasing order.
pub(crate) fn transpose(n_cols: usize, ptr: &[usize], idx: &[u32]) -> (Vec<usize>, Vec<u32>) {
    let mut out_ptr = vec![0usize; n_cols + 1];
    for &c in idx {
        out_ptr[c as usize + 1] += 1;
    }
    for c in 0..n_cols {
        out_ptr[c + 1] += out_ptr[c];
    }
    let mut fill = out_ptr.clone();
    let mut rows = vec![0u32; idx.len()];
    for i in 0..ptr.len().saturating_sub(1) {
        for &c in &idx[ptr[i]..ptr[i + 1]] {
            rows[fill[c as usize]] = i as u32;
            fill[c as usize] += 1;
        }
    }
    (out_ptr, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_in_row_order() {
        // Rows: 0 -> {2}, 1 -> {0, 2}, 2 -> {}, 3 -> {1, 0}.
        let (ptr, rows) = transpose(3, &[0, 1, 3, 3, 5], &[2, 0, 2, 1, 0]);
        assert_eq!(ptr, vec![0, 2, 3, 5]);
        assert_eq!(rows, vec![1, 3, 3, 0, 1]);
    }
}

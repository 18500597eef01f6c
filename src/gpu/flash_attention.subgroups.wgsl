
// ---- row reductions by subgroup shuffles (appended to flash_attention.wgsl,
// after `enable subgroups;`) ----
//
// The TC threads of a row are consecutive invocations t = ty·TC + tx; the
// host uses this only where every subgroup holds whole rows (TC divides the
// adapter's smallest subgroup size), so an xor butterfly over offsets below
// TC stays inside the row and leaves the result in all of its lanes.

fn reduce_rows_max(x: ptr<function, array<f32, 8>>, ty: u32, tx: u32) {
    for (var i = 0u; i < RM; i++) {
        var r = (*x)[i];
        for (var off = 1u; off < TC; off <<= 1u) {
            r = max(r, subgroupShuffleXor(r, off));
        }
        (*x)[i] = r;
    }
}

fn reduce_rows_sum(x: ptr<function, array<f32, 8>>, ty: u32, tx: u32) {
    for (var i = 0u; i < RM; i++) {
        var r = (*x)[i];
        for (var off = 1u; off < TC; off <<= 1u) {
            r += subgroupShuffleXor(r, off);
        }
        (*x)[i] = r;
    }
}


// ---- row reductions through workgroup memory (appended to
// flash_attention.wgsl on adapters without subgroups, or where a row's
// threads may span subgroups) ----
//
// Each thread writes its partial value of its RM rows, a barrier, then each
// reads the TC partials of its rows. The next write to `red` comes after at
// least one more barrier (the P tile's), so none is needed after the reads.

override RED_LEN: u32 = 512u; // BR·TC
var<workgroup> red: array<f32, RED_LEN>;

fn reduce_rows_max(x: ptr<function, array<f32, 8>>, ty: u32, tx: u32) {
    for (var i = 0u; i < RM; i++) {
        red[(ty + TR * i) * TC + tx] = (*x)[i];
    }
    workgroupBarrier();
    for (var i = 0u; i < RM; i++) {
        let base = (ty + TR * i) * TC;
        var r = red[base];
        for (var lane = 1u; lane < TC; lane++) {
            r = max(r, red[base + lane]);
        }
        (*x)[i] = r;
    }
}

fn reduce_rows_sum(x: ptr<function, array<f32, 8>>, ty: u32, tx: u32) {
    for (var i = 0u; i < RM; i++) {
        red[(ty + TR * i) * TC + tx] = (*x)[i];
    }
    workgroupBarrier();
    for (var i = 0u; i < RM; i++) {
        let base = (ty + TR * i) * TC;
        var r = red[base];
        for (var lane = 1u; lane < TC; lane++) {
            r += red[base + lane];
        }
        (*x)[i] = r;
    }
}

/*
 * Phase integration over time-frequency grids along a maximum spanning forest (Prim's algorithm
 * with a 4-ary heap): the heap integration of PGHI (Prusa, Balazs & Soendergaard 2017) with edge
 * weights. speechgen.signal.phase_retrieval.integrate_grid_tree is the only caller; it checks the
 * arrays' dtypes and shapes before calling integrate() here.
 *
 * Nodes are the bins of B grids of F x N, numbered (b * F + f) * N + n. A time edge joins (b, f, n)
 * and (b, f, n + 1) and says phi(b, f, n + 1) = phi(b, f, n) + step; a frequency edge joins (b, f, n)
 * and (b, f + 1, n) likewise. An edge of weight -inf (or NaN) is absent. With ground edges, a
 * virtual ground node of phase 0 joins every node: phi(node) = ground step. Then each of `roots`
 * in turn that no earlier tree reached starts a tree; with priorities, the tree's phases are then
 * shifted to 0 at its node of highest priority (as if grown from there), else to 0 at the root.
 * A tree grows by its heaviest edge to an unreached node.
 *
 * Only the C API and the buffer protocol are used: no numpy headers are needed to build it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The frontier: edges from the reached set to bins not reached when they were pushed, in a 4-ary
 * max-heap by weight (an edge whose target got reached meanwhile is skipped when it comes out). An
 * entry is 16 bytes, so a node's four children fill one cache line; it names the edge by its target
 * and the side the edge comes from, and the target's phase is worked out when it comes out. */
enum { FROM_PREV_FRAME, FROM_NEXT_FRAME, FROM_PREV_BIN, FROM_NEXT_BIN, FROM_GROUND, N_SIDES = 8 };

typedef struct {
    int64_t w;     /* key: the edge's weight as an integer of the same order (key_of) */
    int64_t code;  /* target * N_SIDES + side */
} entry;

/* an integer that orders like the double `w` (not NaN), so that the heap's comparisons become
 * conditional moves instead of mispredicted branches */
#define REACHED INT64_MAX /* above key_of(w) of every weight, +inf (0x7ff0...) included */

static inline int64_t key_of(double w) {
    int64_t bits;
    memcpy(&bits, &w, sizeof(bits));
    return bits ^ ((bits >> 63) & INT64_MAX);
}

typedef struct {
    entry *a;          /* a[1], the first child of the root, starts a cache line */
    void *block;       /* what was allocated */
    Py_ssize_t n, cap;
} queue;

static int queue_grow(queue *q) {
    Py_ssize_t cap = q->cap ? 2 * q->cap : 4096;
    void *block = malloc((size_t)(cap + 8) * sizeof(entry));
    if (!block) return -1;
    entry *a = (entry *)(((uintptr_t)block + 63) / 64 * 64) + 3; /* a + 1 on a 64-byte boundary */
    if (q->n) memcpy(a, q->a, (size_t)q->n * sizeof(entry));
    free(q->block);
    q->a = a, q->block = block, q->cap = cap;
    return 0;
}

static int queue_push(queue *q, int64_t w, int64_t code) {
    if (q->n + 4 >= q->cap && queue_grow(q) < 0) return -1; /* room for the sentinels of queue_pop */
    Py_ssize_t i = q->n++;
    while (i > 0) { /* sift up */
        Py_ssize_t p = (i - 1) / 4;
        if (q->a[p].w >= w) break;
        q->a[i] = q->a[p];
        i = p;
    }
    q->a[i].w = w, q->a[i].code = code;
    return 0;
}

/* Bottom-up deletion: the hole at the top sinks along the largest children to a leaf, then the last
 * entry rises from there, rarely more than a level. */
static entry queue_pop(queue *q) {
    entry top = q->a[0], last = q->a[--q->n];
    Py_ssize_t i = 0, n = q->n;
    for (int k = 0; k < 4; k++) q->a[n + k].w = INT64_MIN; /* sentinels: missing children never win */
    for (Py_ssize_t c = 1; c < n; c = 4 * i + 1) {
        const entry *a = q->a + c;
        int64_t w01 = a[1].w > a[0].w ? a[1].w : a[0].w, w23 = a[3].w > a[2].w ? a[3].w : a[2].w;
        Py_ssize_t i01 = a[1].w > a[0].w, i23 = 2 + (a[3].w > a[2].w);
        Py_ssize_t best = c + (w23 > w01 ? i23 : i01);
        q->a[i] = q->a[best];
        i = best;
    }
    while (i > 0) {
        Py_ssize_t p = (i - 1) / 4;
        if (q->a[p].w >= last.w) break;
        q->a[i] = q->a[p];
        i = p;
    }
    q->a[i] = last;
    return top;
}

/* A bin's edges to its next frame and its next bin (weight -inf where there is none, also at the
 * grid's edges), side by side so that one visit touches few cache lines. */
typedef struct {
    double wt, st, wf, sf;
} bin_edges;

typedef struct {
    Py_ssize_t N, n_nodes;
    bin_edges *e;
    const double *ground_phase;  /* the phase each bin's ground edge gives it */
    int64_t *offered;            /* the key of the heaviest edge pushed to each bin so far; REACHED once
                                  * the bin is in a tree (so that no edge is offered to it again) */
    double *phase;
    uint8_t *reached;
    int64_t *order;  /* the nodes in the order they were reached */
    Py_ssize_t n_order;
} grid;

/* g->e from the time edges (B, F, N - 1) and the frequency edges (B, F - 1, N) */
static int gather_edges(grid *g, Py_ssize_t B, Py_ssize_t F, const double *wt, const double *st,
                        const double *wf, const double *sf) {
    Py_ssize_t N = g->N;
    g->e = (bin_edges *)malloc(((size_t)g->n_nodes + 1) * sizeof(bin_edges));
    if (!g->e) return -1;
    for (Py_ssize_t b = 0, node = 0; b < B; b++)
        for (Py_ssize_t f = 0; f < F; f++)
            for (Py_ssize_t n = 0; n < N; n++, node++) {
                Py_ssize_t et = (b * F + f) * (N - 1) + n, ef = (b * (F - 1) + f) * N + n;
                int time_ok = n + 1 < N, freq_ok = f + 1 < F;
                g->e[node].wt = time_ok ? wt[et] : -INFINITY, g->e[node].st = time_ok ? st[et] : 0.0;
                g->e[node].wf = freq_ok ? wf[ef] : -INFINITY, g->e[node].sf = freq_ok ? sf[ef] : 0.0;
            }
    return 0;
}

/* offer `m` the edge of weight `w` from `side` if the edge exists and `m` is not reached yet */
static inline int offer(const grid *g, queue *q, int64_t m, double w, int side) {
    if (!(w > -INFINITY)) return 0;
    int64_t key = key_of(w);
    if (key <= g->offered[m]) return 0; /* m is reached, or a heavier edge to it waits: this one would go stale */
    g->offered[m] = key;
    return queue_push(q, key, m * N_SIDES + side);
}

/* push every edge from the just-reached `node` to its unreached neighbours */
static int push_neighbours(const grid *g, queue *q, int64_t node) {
    const bin_edges *e = g->e;
    Py_ssize_t N = g->N;
    if (offer(g, q, node + 1, e[node].wt, FROM_PREV_FRAME) < 0) return -1;
    if (offer(g, q, node + N, e[node].wf, FROM_PREV_BIN) < 0) return -1;
    if (node > 0 && offer(g, q, node - 1, e[node - 1].wt, FROM_NEXT_FRAME) < 0) return -1;
    if (node >= N && offer(g, q, node - N, e[node - N].wf, FROM_NEXT_BIN) < 0) return -1;
    return 0;
}

/* the phase the edge `side` gives `node` */
static inline double phase_from(const grid *g, int64_t node, int side) {
    const bin_edges *e = g->e;
    Py_ssize_t N = g->N;
    switch (side) {
        case FROM_PREV_FRAME: return g->phase[node - 1] + e[node - 1].st;
        case FROM_NEXT_FRAME: return g->phase[node + 1] - e[node].st;
        case FROM_PREV_BIN: return g->phase[node - N] + e[node - N].sf;
        case FROM_NEXT_BIN: return g->phase[node + N] - e[node].sf;
        default: return g->ground_phase[node];
    }
}

/* pop edges until the queue is empty, reaching a node with each one that still leads somewhere new */
static int drain(grid *g, queue *q) {
    while (q->n > 0) {
        entry e = queue_pop(q);
        int64_t node = e.code / N_SIDES;
        if (g->offered[node] == REACHED) continue;
        g->offered[node] = REACHED;
        g->phase[node] = phase_from(g, node, (int)(e.code % N_SIDES));
        g->order[g->n_order++] = node;
        if (push_neighbours(g, q, node) < 0) return -1;
    }
    return 0;
}

/* shift the phases of the tree order[start:] to 0 at its node of highest priority */
static void rereference(grid *g, Py_ssize_t start, const double *priority) {
    int64_t best = g->order[start];
    for (Py_ssize_t i = start + 1; i < g->n_order; i++)
        if (priority[g->order[i]] > priority[best]) best = g->order[i];
    double ref = g->phase[best];
    for (Py_ssize_t i = start; i < g->n_order; i++) g->phase[g->order[i]] -= ref;
}

static int run(grid *g, Py_ssize_t B, Py_ssize_t F, const double **edges, const double *wg, const double *sg,
               const int64_t *roots, Py_ssize_t n_roots, const double *priority) {
    Py_ssize_t n_nodes = g->n_nodes;
    queue *q = (queue *)calloc(1, sizeof(queue));
    g->e = NULL;
    g->order = (int64_t *)malloc(((size_t)n_nodes + 1) * sizeof(int64_t));
    g->offered = (int64_t *)malloc(((size_t)n_nodes + 1) * sizeof(int64_t));
    g->n_order = 0;
    if (g->offered)
        for (Py_ssize_t i = 0; i < n_nodes; i++) g->offered[i] = INT64_MIN;
    int failed = !q || !g->order || !g->offered || gather_edges(g, B, F, edges[0], edges[1], edges[2], edges[3]) < 0;
    g->ground_phase = sg;
    if (!failed && wg) { /* Prim from the ground node */
        for (Py_ssize_t i = 0; !failed && i < n_nodes; i++) failed = offer(g, q, i, wg[i], FROM_GROUND) < 0;
        failed = failed || drain(g, q) < 0;
    }
    for (Py_ssize_t r = 0; !failed && r < n_roots; r++) {
        if (g->offered[roots[r]] == REACHED) continue;
        Py_ssize_t start = g->n_order;
        g->offered[roots[r]] = REACHED;
        g->phase[roots[r]] = 0.0;
        g->order[g->n_order++] = roots[r];
        failed = push_neighbours(g, q, roots[r]) < 0 || drain(g, q) < 0;
        if (!failed && priority) rereference(g, start, priority);
    }
    for (Py_ssize_t i = 0; !failed && i < n_nodes; i++) g->reached[i] = g->offered[i] == REACHED;
    if (q) free(q->block);
    free(q), free(g->e), free(g->order), free(g->offered);
    return failed ? -1 : 0;
}

/* `kinds`: the format characters accepted (native byte order), all of `size` bytes */
static int get_buffer(PyObject *obj, Py_buffer *view, const char *kinds, Py_ssize_t size, int writable,
                      const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    const char *f = view->format;
    if (*f == '@' || *f == '=') f++;
    if (view->itemsize != size || strlen(f) != 1 || !strchr(kinds, *f)) {
        PyErr_Format(PyExc_TypeError, "%s: need a contiguous array of %zd-byte '%s'", name, size, kinds);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#define N_ARRAYS 10

static PyObject *integrate(PyObject *self, PyObject *args) {
    Py_ssize_t B, F, N;
    PyObject *objs[N_ARRAYS];
    const char *names[N_ARRAYS] = {"wt", "st", "wf", "sf", "wg", "sg", "roots", "priority", "phase", "reached"};
    const char *kinds[N_ARRAYS] = {"d", "d", "d", "d", "d", "d", "lq", "d", "d", "B"};
    const Py_ssize_t sizes[N_ARRAYS] = {8, 8, 8, 8, 8, 8, 8, 8, 8, 1};
    Py_buffer views[N_ARRAYS];
    int got = 0, failed = 0;
    if (!PyArg_ParseTuple(args, "nnnOOOOOOOOOO", &B, &F, &N, &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9]))
        return NULL;
    for (; got < N_ARRAYS; got++)
        if (get_buffer(objs[got], &views[got], kinds[got], sizes[got], got >= 8, names[got]) < 0) break;
    if (got == N_ARRAYS) {
        grid g = {N, B * F * N, NULL, NULL, NULL, views[8].buf, views[9].buf, NULL, 0};
        const double *edges[4] = {views[0].buf, views[1].buf, views[2].buf, views[3].buf};
        int ground = views[4].len > 0;
        Py_BEGIN_ALLOW_THREADS
        failed = run(&g, B, F, edges, ground ? views[4].buf : NULL, ground ? views[5].buf : NULL,
                     views[6].buf, views[6].len / 8, views[7].len > 0 ? views[7].buf : NULL) < 0;
        Py_END_ALLOW_THREADS
        if (failed) PyErr_NoMemory();
    }
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    if (got < N_ARRAYS || failed) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"integrate", integrate, METH_VARARGS,
     "integrate(B, F, N, wt, st, wf, sf, wg, sg, roots, priority, phase, reached): fill phase/reached along a "
     "maximum spanning forest of the grids (see speechgen.signal.phase_retrieval.integrate_grid_tree)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_maxtree", NULL, -1, methods};

PyMODINIT_FUNC PyInit__maxtree(void) { return PyModule_Create(&module); }

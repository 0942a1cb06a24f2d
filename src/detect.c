/*
 * detect.c - telling a leak from growth that will stop.
 *
 * What we see. For each site, a series of (requests served, live bytes)
 * points: a sampled estimate (so noisy, relative error about sqrt(R/bytes)),
 * summed over workers, after warm-up, and with cyclic garbage collected by
 * the workers' gc policy before it can pile up to half the threshold.
 *
 * What a leak looks like. Bytes that arrive and never leave: the series
 * keeps making new highs, at a rate that does not fade, for as long as
 * requests come. CPython's `regrtest -R` calls a test leaky when, after
 * warm-up, every repetition leaves something behind; Chromium's
 * LeakDetector sums sampled allocations per call stack and reports a stack
 * after several consecutive suspicious analyses, never on one; Scalene
 * lowers a site's score when its sampled blocks are seen being freed. All
 * three judge the shape over time, not a single delta. So do we:
 *
 *   1. Size. Growth G = bytes_now - base must reach the threshold T with
 *      the sampling noise taken off: an estimate of G bytes made of
 *      R-byte samples has a standard deviation of about sqrt(R G), so we
 *      ask G - 2 sqrt(R G) >= T (at the defaults, G >= 1.25 T), and a
 *      buffer that peaks just under T is not pushed over it by noise.
 *      A site whose blocks come and go (a working set replaced at random)
 *      has noise of its own: its estimate is a fresh draw of samples as
 *      its blocks turn over, off by about sqrt(R C) for C bytes churned,
 *      whatever its growth. C is what the series fell by between looks
 *      since the base, at most what the site holds: zero for a leak,
 *      which only rises, so a leak pays nothing; a churning working set
 *      of 19 MiB must rise some 1.6 MiB more before it counts (make eval,
 *      ok_churn.py was reported on a random excursion). The
 *      base is the series' low point since warm-up; a site whose series
 *      drops by T/2 or more from its high (a cache flushed, a sawtooth
 *      reset, a worker recycled) takes its previous high as the new base,
 *      so a sawtooth must climb T above its old peaks before it counts.
 *      Once: later drops keep that base. A sawtooth whose peaks stay level
 *      never climbs T above it; one whose peaks climb does, and that is a
 *      leak under cyclic garbage the gc collects in drops of more than
 *      T/2 (a Django view keeping an ORM instance a request: 0.8 KiB kept,
 *      9 KiB of garbage; moving the base to each new peak measured one
 *      period at a time, never T, and it was never announced).
 *   2. Persistence. Split the requests since the base into four quarters
 *      (of the work axis, and, if that fails, of the requests served: see
 *      lw_detect_update_served) and measure the growth in each (from the
 *      highest point in the eighth of the span before each boundary: a
 *      sawtooth's dips do not land on them). A leak grows in every quarter and
 *      about evenly; lazy initialisation or a step grows in one quarter
 *      then stops; a bounded cache decelerates as it fills. We ask that
 *      each of the last three quarters grows by at least T/16, that the
 *      last carries at least a quarter of an even share (G/16), and that
 *      it keeps at least half the pace of the first: generous to sampling
 *      noise, strict about growth that stopped or is fading. Then, over
 *      every point since the base, that the growth does not come early
 *      (Laplace's trend test, see fading()): a fill that decelerates gently
 *      keeps half its first quarter's pace for long (a coupon-collector
 *      fill of 3 T until it has grown 1.5 T, and it was reported in 98% of
 *      the model's runs), while the centre of its growth along the axis
 *      moves early by more than the sampling noise allows a steady pace
 *      (7% of runs at 3 T, 40% at 4 T; leaks announced as before but for
 *      0.2-0.5% of runs, later). A series that fails only this test keeps
 *      its streak (rule 4) and is judged again at the next look.
 *   3. Still high. The latest point is within T/8 of the high: a series
 *      that just fell is not judged on its old peak, nor judged at all (a
 *      dip keeps the streak of rule 4).
 *   4. Confirmation. The judgement must hold `confirm` times in a row
 *      before the alert (Chromium's counter), each time with T/4 more
 *      growth than the last (and at least a request later); a look off
 *      the high (a sawtooth's dip) neither counts nor breaks the streak.
 *      Two looks a request apart see the same shape twice; growing T/4
 *      further while rule 2 still holds is what tells a leak, whose pace
 *      holds, from a fill that decelerates. An exponential fill
 *      A(1 - e^(-n/tau)) passes rule 2's quarters only while n < 0.92
 *      tau, where it has grown 0.6 A, and no longer by the time it has
 *      grown T/4 more (unless A is some 50 T): without this, any such fill
 *      of more than about 2 T after warm-up was reported, whatever tau (make eval,
 *      ok_churn.py: a working set of random objects still filling). A
 *      leak is announced T/4 later, at about 1.5 T at the defaults.
 *
 * After an alert the site stays LEAKING; it alerts again only when its
 * growth has doubled since the last alert, never once per request.
 *
 * What it cannot know. Growth that is linear past T and then stops (a
 * cache filling at a constant rate to a size above the threshold, or the
 * first rise of a buffer that will be reset above T) looks exactly like a
 * leak until it stops; the threshold should sit above the largest
 * legitimate cache or buffer, or the site be ignored. A fill that
 * decelerates gently looks like one for a while: the larger its bound, the
 * more often it is reported before its deceleration shows (rule 2). And a
 * leak of more than T/2 per request needs three or four requests to show
 * its shape, so it is announced at a few requests' worth rather than at 2 T.
 *
 * Cost: O(points) = O(64) per update, no allocation.
 */
#include "detect.h"

#include <math.h>
#include <string.h>

#include "points.h"

/* Growth with two standard deviations of sampling noise taken off: that of
 * the bytes grown, and that of the bytes that came and went (churn). */
static int64_t surely(const lw_detect_cfg_t *cfg, int64_t growth, int64_t churn)
{
    double r = (double)(cfg->interval > 1 ? cfg->interval : 0);

    if (growth <= 0)
        return growth;
    return growth - (int64_t)(2.0 * sqrt(r * (double)growth)) -
           (int64_t)(2.0 * sqrt(r * (double)(churn > 0 ? churn : 0)));
}

void lw_detect_reset(lw_detect_site_t *s)
{
    memset(s, 0, sizeof(*s));
}

void lw_detect_shift(lw_detect_site_t *s, int64_t bytes)
{
    s->base.bytes += bytes;
    s->high += bytes;
    for (uint32_t i = 0; i < s->npts; i++)
        s->pts[i].bytes += bytes;
}

static void restart(lw_detect_site_t *s, lw_point_t base, bool pinned)
{
    s->pinned = pinned;
    s->base = base;
    s->high = base.bytes;
    s->drops = 0;
    s->pts[0] = base;
    s->npts = 1;
    s->spacing = 1;
    s->streak = 0;
    s->withdrawn_growth = 0;
}

void lw_detect_pin_at(lw_detect_site_t *s, int64_t high)
{
    if (s->started && s->npts > 0)
        restart(s,
                (lw_point_t){s->pts[s->npts - 1].requests, high > s->high ? high : s->high,
                             s->pts[s->npts - 1].served},
                true);
}

void lw_detect_pin(lw_detect_site_t *s)
{
    lw_detect_pin_at(s, s->high);
}

void lw_detect_collected(lw_detect_site_t *s, int64_t bytes)
{
    if (!s->started || bytes <= 0)
        return;
    s->garbage = true;
    s->high = s->high - bytes > s->base.bytes ? s->high - bytes : s->base.bytes;
}

void lw_detect_withdraw(lw_detect_site_t *s, const lw_detect_cfg_t *cfg, int64_t alerted)
{
    s->alerted_growth = alerted;
    s->withdrawn_growth = s->last - s->base.bytes + cfg->threshold / 4;
}

void lw_detect_alerted(lw_detect_site_t *s, int64_t growth)
{
    if (growth > s->alerted_growth)
        s->alerted_growth = growth;
}

/* Rule 1 at `bytes`: the growth since the base, with the noise of the
 * growth and of the churn (what fell since the base, at most what is
 * held; 0 for a pure leak) taken off, reaches T. */
static bool big_enough(const lw_detect_site_t *s, const lw_detect_cfg_t *cfg, int64_t bytes)
{
    return surely(cfg, bytes - s->base.bytes, s->drops < bytes ? s->drops : bytes) >=
           cfg->threshold;
}

bool lw_detect_holds(const lw_detect_site_t *s, const lw_detect_cfg_t *cfg, int64_t bytes)
{
    return s->started && big_enough(s, cfg, bytes);
}

/* Keeps the history bounded and even (points.h): it covers base..now at any age. */
static void add_point(lw_detect_site_t *s, lw_point_t p)
{
    lw_points_t h = {s->pts, sizeof(s->pts[0]), LW_DETECT_POINTS, s->npts, s->spacing};

    lw_points_add(&h, &p);
    s->npts = h.n;
    s->spacing = h.spacing;
}

/* A point's place on the axis, or on the requests served. */
static uint64_t at(const lw_point_t *p, bool served)
{
    return served ? p->served : p->requests;
}

/* The most bytes at the points in (x - window, x] of the axis (or of the
 * requests served), or at the last point before that window if it holds
 * none. */
static int64_t bytes_at(const lw_detect_site_t *s, bool served, uint64_t x, uint64_t window)
{
    int64_t b = s->pts[0].bytes;
    bool inside = false;

    for (uint32_t i = 0; i < s->npts && at(&s->pts[i], served) <= x; i++) {
        if (at(&s->pts[i], served) + window > x) {
            b = inside && b > s->pts[i].bytes ? b : s->pts[i].bytes;
            inside = true;
        }
        else
            b = s->pts[i].bytes;
    }
    return b;
}

/* The most bytes at the points in [x, x + window] of the axis. */
static int64_t bytes_after(const lw_detect_site_t *s, bool served, uint64_t x, uint64_t window)
{
    int64_t b = s->pts[0].bytes;

    for (uint32_t i = 0; i < s->npts && at(&s->pts[i], served) <= x + window; i++)
        if (at(&s->pts[i], served) >= x && s->pts[i].bytes > b)
            b = s->pts[i].bytes;
    return b;
}

/* What rule 2 makes of a series, in order of weight. */
enum shape { SHAPE_NONE, SHAPE_FADING, SHAPE_LEAK };

static bool grows_in_every_quarter(const lw_detect_site_t *s, int64_t t, int64_t growth,
                                   bool served, uint64_t now)
{
    uint64_t base = at(&s->base, served), span = now - base;
    int64_t q[5];

    if (now < base || span < 3 || s->npts < 4)
        return false;
    for (int k = 0; k <= 4; k++)
        q[k] = bytes_at(s, served, base + span * (uint64_t)k / 4, span / 8);
    /* a series that collections shrink (lw_detect_collected) is a sawtooth
     * of garbage whose base is one of its troughs: its first boundary is
     * read at the peak after it, as the others are at the peaks before
     * them (else the first quarter counts a tooth as growth, and the
     * leak under it reads as fading) */
    if (s->garbage)
        q[0] = bytes_after(s, served, base, span / 8);
    for (int k = 2; k <= 4; k++) {
        if (q[k] - q[k - 1] < t / 16)
            return false;
    }
    /* not fading: the last quarter keeps half the pace of the first */
    return q[4] - q[3] >= growth / 16 && 2 * (q[4] - q[3]) >= q[1] - q[0];
}

/* Rule 2, over every point: does the growth since the base come early?
 * (Laplace's trend test.) A steady pace puts the growth's centre of mass
 * at mid-span; a fill that decelerates puts it early. `lean` is the growth
 * of each step times how far before mid-span the step lies; a steady pace
 * gives it a mean of 0 and a variance of v * spread, v the variance a unit
 * of the axis adds: the larger of the sampler's (R times the pace: an
 * estimate made of R-byte samples) and the steps' own scatter about the
 * pace (growth in lumps, frees, garbage, a step of lazy initialisation).
 * Fading when the lean is over 2 standard deviations and moves the centre
 * by more than 1/64 of the span (no pace is exactly steady; in exact mode
 * the sampler adds no noise to measure against). */
static bool fading(const lw_detect_site_t *s, bool served, int64_t r)
{
    const lw_point_t *p = s->pts;
    uint32_t n = s->npts;
    double x0 = (double)at(&p[0], served), span = (double)at(&p[n - 1], served) - x0;
    double grown = (double)(p[n - 1].bytes - p[0].bytes), pace, mid = x0 + span / 2;
    double lean = 0, spread = 0, scatter = 0;

    if (n < 3 || span <= 0 || grown <= 0)
        return false;
    pace = grown / span;
    for (uint32_t i = 1; i < n; i++) {
        double a = (double)at(&p[i - 1], served), b = (double)at(&p[i], served);
        double dx = b - a, d = (double)(p[i].bytes - p[i - 1].bytes), m = (a + b) / 2 - mid;

        lean -= d * m;
        spread += dx * (m * m + dx * dx / 12);
        scatter += (d - pace * dx) * (d - pace * dx);
    }
    double v = fmax((double)r * pace, scatter / span);
    return lean > 2.0 * sqrt(v * spread) && lean * 64 > grown * span;
}

/* Rule 2 on one axis: the quarters, then the whole span. */
static enum shape shape_on(const lw_detect_site_t *s, const lw_detect_cfg_t *cfg,
                           int64_t growth, bool served, uint64_t now)
{
    if (!grows_in_every_quarter(s, cfg->threshold, growth, served, now))
        return SHAPE_NONE;
    return fading(s, served, cfg->interval) ? SHAPE_FADING : SHAPE_LEAK;
}

lw_verdict_t lw_detect_update(lw_detect_site_t *s, const lw_detect_cfg_t *cfg,
                              uint64_t requests, int64_t bytes)
{
    return lw_detect_update_served(s, cfg, requests, requests, bytes);
}

lw_verdict_t lw_detect_update_served(lw_detect_site_t *s, const lw_detect_cfg_t *cfg,
                                     uint64_t requests, uint64_t served, int64_t bytes)
{
    lw_verdict_t v = {LW_VERDICT_NONE, 0, 0, 0.0};
    lw_point_t p = {requests, bytes, served};
    int64_t t = cfg->threshold;
    enum shape shape = SHAPE_NONE;

    if (!s->started || requests < s->base.requests) {
        lw_detect_reset(s);
        s->started = true;
        s->last = bytes;
        restart(s, p, false);
        return v;
    }
    int64_t fell = s->last > bytes ? s->last - bytes : 0;
    s->last = bytes;
    if (!s->pinned && s->high - bytes >= t / 2) /* a drop: beat the old peak by T */
        restart(s, (lw_point_t){requests, s->high, served}, true);
    else if (bytes < s->base.bytes && !s->pinned) /* a new low: measure from here */
        restart(s, p, false);
    else
        s->drops += fell;
    if (bytes > s->high)
        s->high = bytes;
    add_point(s, p);

    v.growth = bytes - s->base.bytes;
    v.requests = requests - s->base.requests;
    v.per_request = v.requests ? (double)v.growth / (double)v.requests : 0.0;
    if (bytes < s->high - t / 8) /* off its high (a sawtooth's dip): wait, keep the streak */
        return v;
    if (big_enough(s, cfg, bytes)) {
        shape = shape_on(s, cfg, v.growth, false, requests);
        if (shape != SHAPE_LEAK && served - s->base.served != v.requests) {
            enum shape other = shape_on(s, cfg, v.growth, true, served);
            shape = other > shape ? other : shape;
        }
    }
    if (shape == SHAPE_NONE) {
        s->streak = 0;
        return v;
    }
    /* Decelerating as a whole: no step, but the streak stands (a leak whose
     * first stretch grew fast by chance takes its step at the next look
     * that shows its pace, where a reset would ask T/4 more; a fill only
     * decelerates further). */
    if (shape == SHAPE_FADING) {
        if (s->alerted_growth)
            v.kind = LW_VERDICT_LEAKING;
        return v;
    }
    /* A step of the streak needs T/4 more growth and a request more. */
    if (s->streak == 0 || (v.growth >= s->streak_growth + t / 4 && v.requests > s->streak_span)) {
        s->streak++;
        s->streak_growth = v.growth;
        s->streak_span = v.requests;
    }
    if (s->streak < (cfg->confirm ? cfg->confirm : 1)) {
        v.kind = LW_VERDICT_SUSPECT;
        return v;
    }
    if ((s->alerted_growth == 0 || v.growth >= 2 * s->alerted_growth) &&
        v.growth >= s->withdrawn_growth) {
        s->alerted_growth = v.growth;
        v.kind = LW_VERDICT_LEAK;
        return v;
    }
    v.kind = s->alerted_growth ? LW_VERDICT_LEAKING : LW_VERDICT_SUSPECT;
    return v;
}

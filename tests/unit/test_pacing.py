from adapters.pacing import Pacer, RateLimit


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_the_pacer_never_sends_more_than_the_limit_in_any_window():
    clock = Clock()
    pacer = Pacer(RateLimit(10, 1.0), clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(35):
        pacer.before()
        sent.append(clock.now)
    assert all(sum(1 for t in sent if start <= t < start + 1.0) <= 10 for start in sent)
    assert clock.now < 3.2  # and it does not wait much longer than the limit requires


def test_the_limit_header_overrides_the_default():
    clock = Clock()
    pacer = Pacer(RateLimit(100, 60.0, limit_header="X-Rate-Limit"), clock=clock, sleep=clock.sleep)
    pacer.after({"X-Rate-Limit": "3"})
    for _ in range(4):
        pacer.before()
    assert clock.now >= 60.0


def test_requests_of_other_clients_count_against_the_budget():
    clock = Clock()
    rate = RateLimit(10, 10.0, limit_header="X-Max", remaining_header="X-Remaining")
    pacer = Pacer(rate, clock=clock, sleep=clock.sleep)
    pacer.before()
    pacer.after({"X-Max": "10", "X-Remaining": "1"})  # someone else spent eight
    pacer.before()
    assert clock.now == 0.0
    pacer.before()
    assert clock.now >= 10.0

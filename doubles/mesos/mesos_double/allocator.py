"""Resource arithmetic and the offer allocator of the Mesos PROTOCOL DOUBLE (not Apache Mesos).

Follows src/common/resources.cpp (Resources `+`, `-`, `contains`, `operator<<` of a Resource:
``name(allocated: role):value`` joined with ``; ``; scalars in fixed point with three decimals,
ranges merged) and src/master/allocator/mesos/hierarchical.cpp with src/master/allocator/sorter/
drf/sorter.cpp (HierarchicalAllocatorProcess::__allocate: each allocation cycle walks the
agents and offers each agent's whole unallocated remainder to the framework with the lowest
dominant share first (ties: fewer allocations, then the id), skipping suppressed frameworks
and the agents a decline filter covers; RefusedOfferFilter: a filter hides an agent's
resources for ``refuse_seconds`` as long as what would be offered is contained in what was
refused; allocatable() needs at least MIN_CPUS 0.01 or MIN_MEM 32 MB, src/master/constants.hpp).
Offers are Offer messages of include/mesos/v1/mesos.proto with `allocation_info` on the offer
and on every resource (1.11 multi-role format).
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

from .common import TERMINAL_TASK_STATES, log

MIN_CPUS = 0.01
MIN_MEM = 32.0
# include/mesos/v1/mesos.proto Filters.refuse_seconds [default = 5.0]
DEFAULT_REFUSE_SECONDS = 5.0


def _round(value: float) -> float:
    # Value::Scalar arithmetic is fixed point with three decimal digits (src/common/values.cpp).
    return round(value * 1000) / 1000


def _key(res: dict) -> tuple[str, str, str, str]:
    # Resources with the same name, type, role and reservations combine (allocation_info is
    # compared too in upstream; the double keeps it out of the key and re-adds it on offers).
    return (
        res["name"],
        res["type"],
        res.get("role", "*"),
        json.dumps(res.get("reservations", []), sort_keys=True),
    )


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if out and begin <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((begin, end))
    return out


def _subtract_ranges(have: list[tuple[int, int]], take: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(have)
    for tb, te in take:
        nxt = []
        for b, e in out:
            if te < b or tb > e:
                nxt.append((b, e))
                continue
            if b < tb:
                nxt.append((b, tb - 1))
            if te < e:
                nxt.append((te + 1, e))
        out = nxt
    return _merge_ranges(out)


def _ranges_of(res: dict) -> list[tuple[int, int]]:
    return [(int(r["begin"]), int(r["end"])) for r in res.get("ranges", {}).get("range", [])]


class Bag:
    """A Resources object: combined values per (name, type, role, reservations)."""

    def __init__(self, resources: list[dict] | None = None) -> None:
        self.items: dict[tuple[str, str, str, str], dict] = {}
        for res in resources or []:
            self.add(res)

    def copy(self) -> Bag:
        bag = Bag()
        bag.items = {k: json.loads(json.dumps(v)) for k, v in self.items.items()}
        return bag

    def add(self, res: dict) -> None:
        key = _key(res)
        base = {k: v for k, v in res.items() if k not in ("allocation_info", "scalar", "ranges", "set")}
        have = self.items.get(key)
        if res["type"] == "SCALAR":
            value = _round((have or {}).get("scalar", {}).get("value", 0.0) + float(res["scalar"]["value"]))
            self.items[key] = {**base, "scalar": {"value": value}}
        elif res["type"] == "RANGES":
            ranges = _merge_ranges(_ranges_of(have or {}) + _ranges_of(res))
            self.items[key] = {**base, "ranges": {"range": [{"begin": b, "end": e} for b, e in ranges]}}
        elif res["type"] == "SET":
            items = sorted(set((have or {}).get("set", {}).get("item", [])) | set(res["set"]["item"]))
            self.items[key] = {**base, "set": {"item": items}}

    def __add__(self, other: Bag) -> Bag:
        bag = self.copy()
        for res in other.items.values():
            bag.add(res)
        return bag

    def __sub__(self, other: Bag) -> Bag:
        bag = self.copy()
        for key, res in other.items.items():
            have = bag.items.get(key)
            if have is None:
                continue
            if res["type"] == "SCALAR":
                value = _round(have["scalar"]["value"] - res["scalar"]["value"])
                if value <= 0:
                    del bag.items[key]
                else:
                    have["scalar"]["value"] = value
            elif res["type"] == "RANGES":
                ranges = _subtract_ranges(_ranges_of(have), _ranges_of(res))
                if ranges:
                    have["ranges"] = {"range": [{"begin": b, "end": e} for b, e in ranges]}
                else:
                    del bag.items[key]
            elif res["type"] == "SET":
                items = sorted(set(have["set"]["item"]) - set(res["set"]["item"]))
                if items:
                    have["set"] = {"item": items}
                else:
                    del bag.items[key]
        return bag

    def contains(self, other: Bag) -> bool:
        for key, res in other.items.items():
            have = self.items.get(key)
            if have is None:
                return False
            if res["type"] == "SCALAR" and _round(res["scalar"]["value"] - have["scalar"]["value"]) > 0:
                return False
            if res["type"] == "RANGES" and _subtract_ranges(_ranges_of(res), _ranges_of(have)):
                return False
            if res["type"] == "SET" and not set(res["set"]["item"]) <= set(have["set"]["item"]):
                return False
        return True

    def empty(self) -> bool:
        return not self.items

    def scalar(self, name: str) -> float:
        return _round(
            sum(r["scalar"]["value"] for r in self.items.values() if r["name"] == name and r["type"] == "SCALAR")
        )

    def allocatable(self) -> bool:
        # hierarchical.cpp allocatable() with the default --min_allocatable_resources=cpus:0.01|mem:32
        return self.scalar("cpus") >= MIN_CPUS or self.scalar("mem") >= MIN_MEM

    def for_role(self, role: str) -> Bag:
        # Unreserved ("*") resources are offerable to every role; reserved ones to their role.
        bag = Bag()
        bag.items = {k: v for k, v in self.copy().items.items() if k[2] in ("*", role)}
        return bag

    def to_list(self, allocation_role: str | None = None) -> list[dict]:
        order = {"cpus": 0, "mem": 1, "disk": 2, "ports": 3}
        out = []
        for key in sorted(self.items, key=lambda k: (order.get(k[0], 9), k)):
            res = dict(self.items[key])
            if allocation_role is not None:
                res["allocation_info"] = {"role": allocation_role}
            out.append(res)
        return out


def _value_text(res: dict) -> str:
    if res["type"] == "SCALAR":
        value = res["scalar"]["value"]
        return str(int(value)) if float(value).is_integer() else f"{value:g}"
    if res["type"] == "RANGES":
        return "[" + ", ".join(f"{r['begin']}-{r['end']}" for r in res["ranges"]["range"]) + "]"
    if res["type"] == "SET":
        return "{" + ", ".join(res["set"]["item"]) + "}"
    return str(res.get("text", {}).get("value", ""))


def stringify(resources: list[dict]) -> str:
    """operator<<(ostream&, const Resources&): ``cpus(allocated: *):1; mem(allocated: *):128``."""
    parts = []
    for res in resources:
        text = res["name"]
        if "allocation_info" in res:
            text += f"(allocated: {res['allocation_info'].get('role', '*')})"
        if res.get("reservations"):
            text += (
                "(reservations: [" + ",".join(f"({r.get('type')},{r.get('role')})" for r in res["reservations"]) + "])"
            )
        elif res.get("role", "*") != "*":
            text += f"(reservations: [(STATIC,{res['role']})])"
        parts.append(f"{text}:{_value_text(res)}")
    return "; ".join(parts)


def dominant_share(allocated: Bag, total: Bag) -> float:
    # DRFSorter::calculateShare: the largest fraction of any scalar resource kind.
    share = 0.0
    for name in ("cpus", "mem", "disk", "gpus"):
        whole = total.scalar(name)
        if whole > 0:
            share = max(share, allocated.scalar(name) / whole)
    return share


def filter_covers(filters: list[dict], agent_id: str, offerable: Bag, now: float) -> bool:
    """RefusedOfferFilter::filter: an unexpired filter on the agent whose resources contain these."""
    return any(f["agent_id"] == agent_id and f["expires"] > now and f["resources"].contains(offerable) for f in filters)


def refuse_seconds(filters: Any) -> float:
    # HierarchicalAllocatorProcess::recoverResources: at most 365 days, a negative value means
    # the default (5 s); 0 installs no filter.
    try:
        value = float((filters or {}).get("refuse_seconds", DEFAULT_REFUSE_SECONDS))
    except (TypeError, ValueError, AttributeError):
        return DEFAULT_REFUSE_SECONDS
    if value > 365 * 86400:
        return 365 * 86400.0
    return DEFAULT_REFUSE_SECONDS if value < 0 else value


class AllocatorMixin:
    """Offers: allocation cycles, DECLINE/REVIVE/SUPPRESS, rescinds (mixed into Master)."""

    id: str
    flags: Any
    lock: Any
    agents: dict[str, dict]
    frameworks: dict[str, Any]
    offers: dict[str, dict]
    next_offer: int
    offer_times: dict[str, float]
    _allocate_now: threading.Event

    def trigger_allocation(self) -> None:
        # Allocation on events (agent added, framework activated, resources recovered, REVIVE),
        # as the hierarchical allocator's `generateOffers` does next to its interval timer.
        self._allocate_now.set()

    def allocation_loop(self) -> None:
        interval = self.flags["allocation_interval"].secs
        while True:
            self._allocate_now.wait(interval)
            self._allocate_now.clear()
            try:
                self.allocate()
                self.expire_offers()
            except Exception as exc:  # the loop must survive anything one cycle trips over
                log(f"Allocation failed: {exc!r}", "E")

    def agent_available(self, agent_id: str) -> Bag:
        agent = self.agents[agent_id]
        used = Bag()
        offered = Bag()
        for framework in self.frameworks.values():
            for task in framework.tasks.values():
                if task["agent_id"]["value"] == agent_id and task["state"] not in TERMINAL_TASK_STATES:
                    used = used + Bag(task["resources"])
        for offer in self.offers.values():
            if offer["agent_id"]["value"] == agent_id:
                offered = offered + Bag(offer["resources"])
        return Bag(agent["info"]["resources"]) - used - offered

    def allocate(self) -> None:
        # HierarchicalAllocatorProcess::__allocate, reduced to one level (every framework's first
        # role that has something offerable) and a DRF order among frameworks.
        with self.lock:
            total = Bag([r for a in self.agents.values() for r in a["info"]["resources"]])
            agent_ids = [i for i, a in self.agents.items() if a["active"] and a["connected"]]
            random.shuffle(agent_ids)
            now = time.monotonic()
            batches: dict[str, list[dict]] = {}
            for agent_id in agent_ids:
                available = self.agent_available(agent_id)
                if available.empty():
                    continue
                candidates = [f for f in self.frameworks.values() if f.active and f.connected]
                candidates.sort(key=lambda f: (dominant_share(f.used() + f.offered(), total), f.allocations, f.id))
                for framework in candidates:
                    chosen = None
                    for role in framework.roles:
                        if role in framework.suppressed:
                            continue
                        offerable = available.for_role(role)
                        if offerable.empty() or not offerable.allocatable():
                            continue
                        if filter_covers(framework.filters, agent_id, offerable, now):
                            continue
                        chosen = (role, offerable)
                        break
                    if chosen is None:
                        continue
                    offer = self._make_offer(framework, agent_id, *chosen)
                    batches.setdefault(framework.id, []).append(offer)
                    break
            for framework_id, offers in batches.items():
                # Master::offer: one OFFERS event per framework and allocation.
                self.frameworks[framework_id].send({"type": "OFFERS", "offers": {"offers": offers}})

    def _make_offer(self, framework: Any, agent_id: str, role: str, resources: Bag) -> dict:
        agent = self.agents[agent_id]
        info = agent["info"]
        ip, _sep, port = agent["pid"].split("@", 1)[1].rpartition(":")
        offer_id = f"{self.id}-O{self.next_offer}"
        self.next_offer += 1
        offer = {
            "id": {"value": offer_id},
            "framework_id": {"value": framework.id},
            "agent_id": {"value": agent_id},
            "hostname": info["hostname"],
            "url": {
                "scheme": "http",
                "address": {"hostname": info["hostname"], "ip": ip, "port": int(port)},
                "path": "/slave(1)",
            },
            "resources": resources.to_list(role),
            "allocation_info": {"role": role},
        }
        if info.get("attributes"):
            offer["attributes"] = info["attributes"]
        if info.get("domain"):
            offer["domain"] = info["domain"]
        executor_ids = sorted(
            {
                t["executor_id"]["value"]
                for t in framework.tasks.values()
                if t["agent_id"]["value"] == agent_id and t.get("executor_id")
            }
        )
        if executor_ids:
            offer["executor_ids"] = [{"value": e} for e in executor_ids]
        self.offers[offer_id] = offer
        framework.offers[offer_id] = offer
        framework.allocations += 1
        self.offer_times[offer_id] = time.monotonic()
        return offer

    def remove_offer(self, offer_id: str, rescind: bool = False, filter_seconds: float | None = None) -> None:
        # Master::removeOffer / rescindOffer (+ allocator recoverResources with a filter).
        offer = self.offers.pop(offer_id, None)
        self.offer_times.pop(offer_id, None)
        if offer is None:
            return
        framework = self.frameworks.get(offer["framework_id"]["value"])
        if framework is None:
            return
        framework.offers.pop(offer_id, None)
        if rescind:
            framework.send({"type": "RESCIND", "rescind": {"offer_id": {"value": offer_id}}})
        if filter_seconds is not None and filter_seconds > 0:
            framework.filters.append(
                {
                    "agent_id": offer["agent_id"]["value"],
                    "resources": Bag(offer["resources"]),
                    "expires": time.monotonic() + filter_seconds,
                }
            )
        self.trigger_allocation()

    def rescind_agent_offers(self, agent_id: str) -> None:
        # Master::deactivate(Slave*) / removeSlave: the agent's outstanding offers are rescinded.
        for offer_id, offer in list(self.offers.items()):
            if offer["agent_id"]["value"] == agent_id:
                self.remove_offer(offer_id, rescind=True)

    def expire_offers(self) -> None:
        # --offer_timeout: offers held longer are rescinded (Master::offer's delayed rescind).
        timeout = self.flags["offer_timeout"]
        if timeout is None:
            return
        with self.lock:
            now = time.monotonic()
            for offer_id, since in list(self.offer_times.items()):
                if now - since >= timeout.secs:
                    self.remove_offer(offer_id, rescind=True)

    def decline(self, framework: Any, decline: dict) -> None:
        # Master::decline: each valid offer goes back with a filter for refuse_seconds.
        seconds = refuse_seconds(decline.get("filters"))
        for oid in decline.get("offer_ids", []):
            offer = self.offers.get(oid["value"])
            if offer is None or offer["framework_id"]["value"] != framework.id:
                log(f"Ignoring decline of offer {oid['value']} since it is no longer valid", "W")
                continue
            self.remove_offer(oid["value"], filter_seconds=seconds)

    def revive(self, framework: Any, revive: dict) -> None:
        # Master::revive / HierarchicalAllocatorProcess::reviveOffers: the roles' filters go and
        # their suppression ends (all roles of the framework when none is given).
        roles = set(revive.get("roles") or framework.roles)
        framework.filters = []
        framework.suppressed -= roles
        self.trigger_allocation()

    def suppress(self, framework: Any, suppress: dict) -> None:
        # Master::suppress / suppressRoles: no more offers for these roles until REVIVE.
        roles = set(suppress.get("roles") or framework.roles)
        framework.suppressed |= roles & set(framework.roles)

//! The per-core runtime over in-memory pipes (no root, real threads and a
//! real clock): cross-shard handoff through inboxes, control events (route
//! snapshots, neighbors), the stop flag, idle sleeping, published stats,
//! and the router app forwarding between two interfaces.
//!
//! Topology: each (interface, queue) link of the router is one pipe; the
//! test keeps the far ends. A test host joins the far ends of all queues of
//! one interface with a `QueueGroup`, like one peer on the wire: it
//! transmits on the first queue (so every flow enters the router on queue
//! 0, i.e. on worker 0) and receives from all of them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant as WallClock};

use xdpnet::app::router::{plan, RouterApp};
use xdpnet::config::{InterfaceSpec, RouteSpec, RouterOptions};
use xdpnet::link::pipe::{Pipe, PipeConfig, PipeEnd};
use xdpnet::link::LinkEndpoint;
use xdpnet::stack::{NicId, Route, Stack, StackConfig};
use xdpnet::time::Instant;
use xdpnet::transport::Handle;
use xdpnet::wire::{EthernetAddress, IpProtocol};
use xdpnet::worker::flow_hash::{shard_of, FlowTuple};
use xdpnet::worker::inbox::{ControlEvent, RouteChange};
use xdpnet::worker::links::{
    LinkFactory, LinkOpenError, LinkRequest, LinkRole, OpenedLink, QueueGroup,
};
use xdpnet::worker::placement::place;
use xdpnet::worker::runtime::{
    Clock, InterfaceSetup, Runtime, RuntimeConfig, ShardApp, ShardSetup,
};

fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, n])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Hands out prepared pipe ends by (interface, queue, role).
struct PipeFactory {
    ends: Mutex<HashMap<(usize, u32, LinkRole), PipeEnd>>,
}

impl LinkFactory for PipeFactory {
    fn name(&self) -> &str {
        "pipe"
    }
    fn open(&self, req: &LinkRequest) -> Result<OpenedLink, LinkOpenError> {
        let end = self
            .ends
            .lock()
            .unwrap()
            .remove(&(req.iface, req.queue, req.role))
            .ok_or_else(|| LinkOpenError {
                cause: format!("no pipe for {req:?}"),
                fix: "prepare one in the test".into(),
            })?;
        Ok(OpenedLink {
            link: Box::new(end),
            fd: None,
            copy_mode: None,
        })
    }
}

/// Pipes for `queues` queues of each interface (`router_macs[i]` on the
/// router side), plus tx-only pipes where asked. Returns the factory and,
/// per interface, the far ends in queue order (tx-only ends last).
fn pipes(
    router_macs: &[EthernetAddress],
    host_macs: &[EthernetAddress],
    queues: u32,
    tx_only: &[(usize, u32)],
) -> (Arc<PipeFactory>, Vec<Vec<PipeEnd>>) {
    let mut ends = HashMap::new();
    let mut far: Vec<Vec<PipeEnd>> = (0..router_macs.len()).map(|_| Vec::new()).collect();
    for (i, (&rm, &hm)) in router_macs.iter().zip(host_macs).enumerate() {
        for q in 0..queues {
            let (r, h) = Pipe::pair(PipeConfig::new(rm), PipeConfig::new(hm));
            ends.insert((i, q, LinkRole::RxTx), r);
            far[i].push(h);
        }
    }
    for &(i, q) in tx_only {
        let (r, h) = Pipe::pair(
            PipeConfig::new(router_macs[i]),
            PipeConfig::new(host_macs[i]),
        );
        ends.insert((i, q, LinkRole::TxOnly), r);
        far[i].push(h);
    }
    (
        Arc::new(PipeFactory {
            ends: Mutex::new(ends),
        }),
        far,
    )
}

/// A test host: one NIC over the far ends of every queue of an interface.
fn host(ends: Vec<PipeEnd>, addr: &str) -> (Stack, NicId) {
    let members: Vec<Box<dyn LinkEndpoint + Send>> = ends
        .into_iter()
        .map(|e| Box::new(e) as Box<dyn LinkEndpoint + Send>)
        .collect();
    let mut s = Stack::new(StackConfig::default());
    let nic = s.add_boxed_nic("eth0", Box::new(QueueGroup::new(members)));
    s.add_address(nic, addr.parse().unwrap()).unwrap();
    (s, nic)
}

/// Poll test hosts with a real clock until `done` or the deadline.
fn drive(
    hosts: &mut [&mut Stack],
    clock: &Clock,
    secs: u64,
    mut done: impl FnMut(&mut [&mut Stack]) -> bool,
) -> bool {
    let end = WallClock::now() + StdDuration::from_secs(secs);
    while WallClock::now() < end {
        let now = clock.now();
        for h in hosts.iter_mut() {
            h.poll(now);
        }
        if done(hosts) {
            return true;
        }
        std::thread::sleep(StdDuration::from_micros(200));
    }
    false
}

/// Echoes UDP datagrams on one port and records which shard saw which
/// sender.
struct Echo {
    port: u16,
    h: Option<Handle>,
    shard: usize,
    seen: Arc<Mutex<Vec<(usize, SocketAddr)>>>,
}

impl ShardApp for Echo {
    fn start(&mut self, stack: &mut Stack, shard: usize, _now: Instant) {
        self.shard = shard;
        self.h = Some(
            stack
                .udp_bind(SocketAddr::new(ip("0.0.0.0"), self.port))
                .unwrap(),
        );
    }
    fn poll(&mut self, stack: &mut Stack, now: Instant) -> bool {
        let Some(h) = self.h else { return false };
        let mut did = false;
        while let Some(d) = stack.udp_recv(h) {
            self.seen.lock().unwrap().push((self.shard, d.src));
            let _ = stack.udp_send_to(h, d.payload.as_slice(), d.src, now);
            did = true;
        }
        did
    }
}

#[test]
fn flows_of_another_shard_are_handed_off_to_their_owner() {
    const ROUTER: &str = "198.18.0.1";
    const CLIENT: &str = "198.18.0.10";
    let (factory, mut far) = pipes(&[mac(0xa0)], &[mac(0x10)], 2, &[]);
    let placement = place(&[("eth0".into(), vec![0, 1])], Some(2), None, &[]).unwrap();
    let setup = ShardSetup {
        interfaces: vec![InterfaceSetup {
            name: "eth0".into(),
            addresses: vec!["198.18.0.1/24".parse().unwrap()],
        }],
        routes: vec![],
        neighbors: vec![],
        forwarding: false,
        stack: StackConfig::default(),
    };
    let mut rc = RuntimeConfig::new(placement, setup);
    rc.pin = false;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let rt = Runtime::start(
        rc,
        factory,
        |_| {
            Box::new(Echo {
                port: 7000,
                h: None,
                shard: 0,
                seen: seen.clone(),
            })
        },
        stop,
    )
    .unwrap_or_else(|e| panic!("{e}"));

    // The client's frames all enter on queue 0 (worker 0). Replies from
    // worker 1 leave on queue 1, whose ARP requests the client would answer
    // on queue 0 again; so the client's MAC is published to every shard as
    // a control event, as a shard that resolved it would do.
    rt.broadcast(ControlEvent::Neighbor {
        nic: NicId(0),
        addr: ip(CLIENT),
        mac: mac(0x10),
        confirmed: true,
    })
    .unwrap();
    let (mut client, cnic) = host(far.remove(0), "198.18.0.10/24");
    client
        .add_static_neighbor(cnic, ip(ROUTER), mac(0xa0))
        .unwrap();
    let clock = Clock::new();
    let ports: Vec<u16> = (40000..40032).collect();
    let handles: Vec<Handle> = ports
        .iter()
        .map(|&p| client.udp_bind(SocketAddr::new(ip(CLIENT), p)).unwrap())
        .collect();
    for (h, p) in handles.iter().zip(&ports) {
        client
            .udp_send_to(
                *h,
                format!("flow {p}").as_bytes(),
                SocketAddr::new(ip(ROUTER), 7000),
                clock.now(),
            )
            .unwrap();
    }
    let mut replies = vec![false; ports.len()];
    let ok = drive(&mut [&mut client], &clock, 10, |hs| {
        for (i, h) in handles.iter().enumerate() {
            while let Some(d) = hs[0].udp_recv(*h) {
                assert_eq!(
                    d.payload.as_slice(),
                    format!("flow {}", ports[i]).as_bytes()
                );
                replies[i] = true;
            }
        }
        replies.iter().all(|r| *r)
    });
    assert!(ok, "echoes missing: {replies:?}");

    // Each flow was answered by the shard owning its tuple.
    let owner = |p: u16| {
        shard_of(
            &FlowTuple {
                src_addr: ip(CLIENT),
                dst_addr: ip(ROUTER),
                src_port: p,
                dst_port: 7000,
                protocol: IpProtocol::Udp,
            },
            2,
        )
    };
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), ports.len());
    for (shard, src) in &seen {
        assert_eq!(*shard, owner(src.port()), "{src}");
    }
    let to_shard1 = ports.iter().filter(|p| owner(**p) == 1).count() as u64;
    assert!(to_shard1 > 0 && to_shard1 < ports.len() as u64);

    // Published counters: worker 0 received everything and handed off the
    // flows of worker 1; worker 1 received them through its inbox.
    let deadline = WallClock::now() + StdDuration::from_secs(2);
    let stats = loop {
        let s = rt.stats();
        let settled = s[1].handoff_in == to_shard1 && s[0].handoff_out == to_shard1;
        if settled || WallClock::now() > deadline {
            break s;
        }
        std::thread::sleep(StdDuration::from_millis(20));
    };
    assert_eq!(stats[0].worker, 0);
    assert_eq!(stats[0].handoff_out, to_shard1);
    assert_eq!(stats[1].handoff_in, to_shard1);
    assert!(stats[0].nics[0].rx_packets >= ports.len() as u64);
    assert_eq!(stats[1].nics[0].rx_packets, 0);
    assert!(stats.iter().all(|s| s.control_applied >= 1), "{stats:?}");
    let fin = rt.shutdown().unwrap();
    assert!(fin.iter().all(|s| s.stopped));
    assert_eq!(fin[1].stack.udp_rx, to_shard1);
    // Worker 1 answered its flows on its own queue.
    assert!(fin[1].nics[0].tx_packets >= to_shard1, "{fin:?}");
}

#[test]
fn stop_flag_ends_idle_workers_promptly_and_idle_workers_sleep() {
    let (factory, _far) = pipes(&[mac(1), mac(2)], &[mac(3), mac(4)], 2, &[]);
    let placement = place(
        &[("a".into(), vec![0, 1]), ("b".into(), vec![0, 1])],
        Some(3),
        None,
        &[],
    )
    .unwrap();
    let setup = ShardSetup {
        interfaces: vec![
            InterfaceSetup {
                name: "a".into(),
                addresses: vec!["198.18.0.1/24".parse().unwrap()],
            },
            InterfaceSetup {
                name: "b".into(),
                addresses: vec!["2001:2::1/64".parse().unwrap()],
            },
        ],
        routes: vec![],
        neighbors: vec![],
        forwarding: true,
        stack: StackConfig::default(),
    };
    let mut rc = RuntimeConfig::new(placement, setup);
    rc.pin = false;
    rc.publish_interval = StdDuration::from_millis(20);
    let stop = Arc::new(AtomicBool::new(false));
    // Worker 2 serves b:0 only... and a:? — 4 queues on 3 workers: w0 a:0
    // b:1, w1 a:1, w2 b:0. Worker 1 and 2 need a tx-only link on the
    // interface they do not receive on; the factory has none, so start
    // must fail cleanly with the factory's error.
    let e = Runtime::start(
        rc.clone(),
        factory,
        |_| Box::new(xdpnet::worker::runtime::NoApp),
        stop.clone(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot open"), "{e}");
    assert!(e.to_string().contains("Fix: prepare one"), "{e}");

    // A failed start stops everything it started, through the stop flag.
    assert!(stop.load(Ordering::SeqCst));
    let stop = Arc::new(AtomicBool::new(false));
    // With the tx-only links it starts.
    let (factory, _far) = pipes(&[mac(1), mac(2)], &[mac(3), mac(4)], 2, &[(1, 1), (0, 0)]);
    let rt = Runtime::start(
        rc,
        factory,
        |_| Box::new(xdpnet::worker::runtime::NoApp),
        stop.clone(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rt.links().len(), 6);
    std::thread::sleep(StdDuration::from_millis(300));
    let stats = rt.stats();
    assert_eq!(stats.len(), 3);
    for s in &stats {
        assert!(s.at > Instant::ZERO, "worker {} never published", s.worker);
        // Idle: it slept (10 ms cap) instead of spinning.
        assert!(s.sleeps > 0, "{s:?}");
        assert!(
            s.loops < 2_000,
            "worker {} spun: {} loops",
            s.worker,
            s.loops
        );
    }
    let t = WallClock::now();
    stop.store(true, Ordering::SeqCst);
    while !(rt.any_finished() && t.elapsed() > StdDuration::from_millis(1)) {
        assert!(
            t.elapsed() < StdDuration::from_millis(500),
            "workers did not see the stop flag"
        );
        std::thread::sleep(StdDuration::from_millis(1));
    }
    let fin = rt.shutdown().unwrap();
    assert!(t.elapsed() < StdDuration::from_millis(500));
    assert!(fin.iter().all(|s| s.stopped));
}

#[test]
fn router_app_forwards_between_interfaces_and_applies_route_snapshots() {
    let opts = RouterOptions {
        interfaces: vec![
            "a=198.18.0.1/24".parse::<InterfaceSpec>().unwrap(),
            "b=198.18.1.1/24".parse::<InterfaceSpec>().unwrap(),
        ],
        routes: vec!["198.19.0.0/16 blackhole".parse::<RouteSpec>().unwrap()],
        workers: Some(2),
        interval: Some(0.0),
        json: Some(true),
        ..RouterOptions::default()
    };
    let cfg = opts.finish().unwrap();
    let placement = plan(
        &cfg,
        &[("a".into(), vec![0, 1]), ("b".into(), vec![0, 1])],
        &[],
    )
    .unwrap();
    let (factory, mut far) = pipes(&[mac(0xa0), mac(0xb0)], &[mac(0x1a), mac(0x1b)], 2, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut running = RouterApp::new(cfg, placement, factory)
        .with_pinning(false)
        .start(stop)
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut hb, _) = host(far.remove(1), "198.18.1.2/24");
    let (mut ha, na) = host(far.remove(0), "198.18.0.2/24");
    ha.add_route(Route::gateway(
        "0.0.0.0/0".parse().unwrap(),
        na,
        ip("198.18.0.1"),
        0,
    ))
    .unwrap();
    let clock = Clock::new();
    let sa = ha
        .udp_bind(SocketAddr::new(ip("198.18.0.2"), 5000))
        .unwrap();
    let sb = hb
        .udp_bind(SocketAddr::new(ip("198.18.1.2"), 9000))
        .unwrap();
    for i in 0..20u8 {
        ha.udp_send_to(
            sa,
            &[i; 100],
            "198.18.1.2:9000".parse().unwrap(),
            clock.now(),
        )
        .unwrap();
    }
    let mut got = 0;
    assert!(
        drive(&mut [&mut ha, &mut hb], &clock, 10, |hs| {
            while hs[1].udp_recv(sb).is_some() {
                got += 1;
            }
            got == 20
        }),
        "forwarded {got} of 20"
    );

    // The blackhole route from the configuration drops; then a snapshot
    // replaces it with a gateway route and the same traffic is forwarded.
    for _ in 0..5 {
        ha.udp_send_to(sa, b"x", "198.19.0.5:9".parse().unwrap(), clock.now())
            .unwrap();
    }
    drive(&mut [&mut ha, &mut hb], &clock, 1, |_| false);
    running
        .runtime()
        .publish_routes(vec![
            RouteChange::Remove("198.19.0.0/16".parse().unwrap()),
            RouteChange::Add(Route::gateway(
                "198.19.0.0/16".parse().unwrap(),
                NicId(1),
                ip("198.18.1.2"),
                0,
            )),
        ])
        .unwrap();
    std::thread::sleep(StdDuration::from_millis(50));
    for _ in 0..5 {
        ha.udp_send_to(sa, b"y", "198.19.0.5:9".parse().unwrap(), clock.now())
            .unwrap();
    }
    drive(&mut [&mut ha, &mut hb], &clock, 1, |_| false);

    running.sample(); // the first sample starts the interval clock
    std::thread::sleep(StdDuration::from_millis(150));
    let sample = running.sample();
    assert_eq!(sample.interfaces.len(), 2);
    assert!(sample.secs > 0.1);
    let summary = running.stop().unwrap();
    assert_eq!(summary.forwarded, 25, "{summary}");
    let drops: HashMap<String, u64> = summary.drops.iter().cloned().collect();
    assert_eq!(drops.get("blackhole_route"), Some(&5), "{summary}");
    assert_eq!(summary.interfaces[0].name, "a");
    assert!(summary.interfaces[0].rx_packets >= 25);
    assert!(summary.interfaces[1].tx_packets >= 25);
    assert_eq!(summary.workers.len(), 2);
    assert_eq!(summary.workers[0].queues, vec!["a:0", "b:0"]);
    let text = summary.to_string();
    assert!(text.starts_with("--- summary ---\n"), "{text}");
    assert!(
        text.contains("XDP mode          : none (pipe links)"),
        "{text}"
    );
    assert!(text.contains("  blackhole_route"), "{text}");
    let j = summary.to_json();
    assert_eq!(j["command"], "router");
    assert_eq!(j["forwarded"], 25);
    assert_eq!(j["interfaces"][1]["name"], "b");
    assert_eq!(j["workers"][0]["queues"][1], "b:0");
}

#[test]
fn static_neighbors_reach_every_shard_and_skip_resolution() {
    // `--neighbor` as the router's configuration takes it.
    let cfg = RouterOptions {
        interfaces: vec!["eth0=198.18.0.1/24".parse::<InterfaceSpec>().unwrap()],
        neighbors: vec![
            "198.18.0.10 lladdr 02:00:00:00:00:10 dev eth0 nud permanent"
                .parse()
                .unwrap(),
        ],
        ..RouterOptions::default()
    }
    .finish()
    .unwrap();
    let setup = ShardSetup {
        interfaces: vec![InterfaceSetup {
            name: "eth0".into(),
            addresses: vec!["198.18.0.1/24".parse().unwrap()],
        }],
        routes: vec![],
        neighbors: cfg.stack_neighbors().unwrap(),
        forwarding: true,
        stack: StackConfig::default(),
    };
    let now = Instant::ZERO;
    for shard in 0..2 {
        let (mine, mut far) = Pipe::pair(PipeConfig::new(mac(0xa0)), PipeConfig::new(mac(0x10)));
        let mut stack = setup
            .build_stack(
                shard,
                2,
                vec![Box::new(mine) as Box<dyn LinkEndpoint + Send>],
            )
            .unwrap();
        let entry = stack.nics()[0]
            .arp_cache()
            .get("198.18.0.10".parse().unwrap())
            .unwrap_or_else(|| panic!("shard {shard} has no entry"));
        assert_eq!(entry.mac, Some(mac(0x10)));
        assert_eq!(entry.state, xdpnet::stack::neighbor::NeighborState::Static);
        // The first datagram goes straight to the MAC: no ARP request.
        let h = stack.udp_bind(SocketAddr::new(ip("0.0.0.0"), 9)).unwrap();
        stack
            .udp_send_to(h, b"hello", SocketAddr::new(ip("198.18.0.10"), 9), now)
            .unwrap();
        stack.poll(now);
        let mut got = Vec::new();
        far.read_packets(&mut got, 64, now);
        assert_eq!(got.len(), 1, "shard {shard}: one frame, no ARP");
        let f = got[0].as_slice();
        assert_eq!(&f[..6], &mac(0x10).0, "shard {shard}: to the static MAC");
        assert_eq!(&f[12..14], &[0x08, 0x00], "shard {shard}: IPv4, not ARP");
    }
}

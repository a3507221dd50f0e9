use petri_e2e::{TestServer, WORKER, spec};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_shutdown_with_longpoll() {
    let mut server = TestServer::start().await;
    let colony = server.colony().await;
    let client = server.client();
    let h = {
        let client = client.clone();
        let colony = colony.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let r = client.assign(&colony.name, 8, &colony.executor.key).await;
            (r.map(|p| p.is_some()), t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    server.restart().await;
    eprintln!("restart took {:?}", t.elapsed());
    eprintln!("assign: {:?}", h.await.unwrap());
    let client = server.client();
    // ws wait across restart
    let p = client
        .submit(spec(&colony.name, WORKER, "f"), &colony.executor.key)
        .await
        .unwrap();
    let w = {
        let client = client.clone();
        let p = p.clone();
        let k = colony.executor.key.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let r = client.wait(&p, 2, 6, &k).await;
            (r.map(|x| x.map(|p| p.state)), t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    server.restart().await;
    eprintln!("restart with ws took {:?}", t.elapsed());
    let client = server.client();
    let a = client
        .assign(&colony.name, 2, &colony.executor.key)
        .await
        .unwrap()
        .unwrap();
    client
        .close(&a.processid, vec![], &colony.executor.key)
        .await
        .unwrap();
    eprintln!("wait: {:?}", w.await.unwrap());
}

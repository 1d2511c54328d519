// A hostile mailbox server for security tests: a loopback proxy in front of a real Radicale that
// lets a test answer any request itself — a zip bomb, an endless answer, a listing of a million
// hrefs, hrefs on another host, a principal on plain http — or change what Radicale answered.
// Every request is recorded (method, path, Host, whether it carried credentials).
//
//   const proxy = await startHostileProxy(radicale.url);
//   proxy.on((req) => (req.method === 'REPORT' ? { status: 207, body: hugeListing } : undefined));
//   proxy.rewrite((req, body) => body.replace(…));      // change Radicale's answer
//   await proxy.stop();
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  host: string | undefined;
  authorized: boolean;
  body: string;
}

export interface HostileAnswer {
  status: number;
  headers?: Record<string, string>;
  /** The whole body, or a writer that streams it (and may never end). */
  body?: string | Buffer | ((res: ServerResponse) => void);
}

export type Handler = (req: SeenRequest) => HostileAnswer | undefined;
export type Rewriter = (req: SeenRequest, body: string, status: number) => string | undefined;

export interface HostileProxy {
  url: string;
  seen: SeenRequest[];
  /** Answer requests yourself; undefined passes the request to the real server. */
  on(handler: Handler | undefined): void;
  /** Change the real server's answer (text bodies); undefined keeps it. */
  rewrite(rewriter: Rewriter | undefined): void;
  stop(): Promise<void>;
}

/** A plain listener that only records what reaches it (the "other host" of a test). */
export interface RecordingServer {
  url: string;
  seen: SeenRequest[];
  stop(): Promise<void>;
}

function record(req: IncomingMessage, body: Buffer): SeenRequest {
  return { method: req.method ?? 'GET', path: req.url ?? '', host: req.headers.host, authorized: Boolean(req.headers.authorization), body: body.toString('utf8') };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  };
}

export async function startRecordingServer(answer: (req: SeenRequest, res: ServerResponse) => void = (_r, res) => res.writeHead(404).end()): Promise<RecordingServer> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = record(req, Buffer.concat(chunks));
      seen.push(r);
      answer(r, res);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, seen, stop: closer(server, sockets) };
}

export async function startHostileProxy(target: string): Promise<HostileProxy> {
  const targetUrl = new URL(target);
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let handler: Handler | undefined;
  let rewriter: Rewriter | undefined;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const r = record(req, body);
      seen.push(r);
      res.on('error', () => undefined); // the client stops reading a hostile answer: expected
      const own = handler?.(r);
      if (own) {
        res.writeHead(own.status, own.headers ?? {});
        if (typeof own.body === 'function') own.body(res);
        else res.end(own.body ?? '');
        return;
      }
      const headers = { ...req.headers, host: targetUrl.host };
      delete headers['accept-encoding']; // keep answers plain so rewriters see text
      const up = httpRequest({ host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers }, (upRes) => {
        const upChunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => upChunks.push(c));
        upRes.on('end', () => {
          let out = Buffer.concat(upChunks);
          const changed = rewriter?.(r, out.toString('utf8'), upRes.statusCode ?? 0);
          if (changed !== undefined) out = Buffer.from(changed, 'utf8');
          const h = { ...upRes.headers };
          delete h['content-length'];
          delete h['transfer-encoding'];
          res.writeHead(upRes.statusCode ?? 502, { ...h, 'content-length': String(out.length) });
          res.end(out);
        });
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    on: (h) => {
      handler = h;
    },
    rewrite: (w) => {
      rewriter = w;
    },
    stop: closer(server, sockets),
  };
}

/** Peak resident memory of a running process, sampled from /proc every 20 ms until it exits. */
export function watchPeakRss(pid: number): { peakMb(): number; stop(): void } {
  let peak = 0;
  const read = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
      if (hwm) peak = Math.max(peak, Number(hwm) / 1024);
    } catch {
      /* exited */
    }
  };
  const timer = setInterval(read, 20);
  return {
    peakMb: () => {
      read();
      return peak;
    },
    stop: () => clearInterval(timer),
  };
}

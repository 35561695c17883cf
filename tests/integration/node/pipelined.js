// The MariaDB Node.js connector (npm mariadb 3.x), pipelining as it does by default: the
// queries and executes of each Promise.all go out before any response comes. Prints each
// statement: text, "rows" or "affected", the count the driver saw.
const mariadb = require('mariadb');
(async () => {
  const conn = await mariadb.createConnection({host: '127.0.0.1', port: parseInt(process.argv[2]), user: 'app', password: 'secret', database: 't', pipelining: true});
  const out = [];
  await conn.query('CREATE TABLE IF NOT EXISTS nt (id INT PRIMARY KEY, v VARCHAR(64))');
  out.push(['CREATE TABLE IF NOT EXISTS nt (id INT PRIMARY KEY, v VARCHAR(64))', 'affected', 0]);
  const ins = [];
  for (let i = 0; i < 20; i++) ins.push(conn.query(`INSERT INTO nt VALUES (${i}, 'v${i}')`));
  for (const r of await Promise.all(ins)) out.push([null, 'affected', r.affectedRows]);
  for (let i = 0; i < 20; i++) out[i + 1][0] = `INSERT INTO nt VALUES (${i}, 'v${i}')`;
  const sel = [];
  for (let k = 1; k <= 15; k++) sel.push(conn.query(`SELECT id, v FROM nt WHERE id < ${k}`));
  const rs = await Promise.all(sel);
  rs.forEach((r, k) => out.push([`SELECT id, v FROM nt WHERE id < ${k + 1}`, 'rows', r.length]));
  const ex = [];
  for (let k = 1; k <= 10; k++) ex.push(conn.execute('SELECT id, v FROM nt WHERE id < ?', [k]));
  const er = await Promise.all(ex);
  er.forEach((r) => out.push(['SELECT id, v FROM nt WHERE id < ?', 'rows', r.length]));
  await conn.end();
  for (const o of out) console.log(o.join('\t'));
})().catch(e => { console.error(e); process.exit(1); });

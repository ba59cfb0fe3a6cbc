# Writes tests/fuzz_regressions/detectors/every-detector-raises, a hand-made input for the
# `detectors` fuzz target (the engine layout: selector u8, step in tenths of a second u8, length
# u16 LE, frame) in which every detector raises:
#   python3 fuzz/detectors_input.py > tests/fuzz_regressions/detectors/every-detector-raises
import struct, sys
out = bytearray()
def rec(frame, step=0):
    out.extend(struct.pack('<BBH', 0, step, len(frame)) + frame)
def ip4(a): return bytes(int(x) for x in a.split('.'))
def eth(payload, etype=0x0800, src=b'\x02\x00\x00\x00\x00\x01', dst=b'\x02\x00\x00\x00\x00\x02'):
    return dst + src + struct.pack('>H', etype) + payload
def ipv4(src, dst, proto, payload):
    h = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, ip4(src), ip4(dst))
    return h + payload
def tcp(src, sport, dst, dport, flags, data=b''):
    t = struct.pack('>HHIIBBHHH', sport, dport, 1, 1, 5 << 4, flags, 1024, 0, 0) + data
    return eth(ipv4(src, dst, 6, t))
def udp(src, sport, dst, dport, data):
    u = struct.pack('>HHHH', sport, dport, 8 + len(data), 0) + data
    return eth(ipv4(src, dst, 17, u))
SYN, RST_ACK, FIN, XMAS, SYN_ACK, PSH_ACK = 0x02, 0x14, 0x01, 0x29, 0x12, 0x18
# Vertical scan, refused.
for p in range(1, 31):
    rec(tcp('10.0.0.66', 40000, '192.168.1.5', p, SYN))
    rec(tcp('192.168.1.5', p, '10.0.0.66', 40000, RST_ACK))
# Connections that work, then a horizontal scan nobody answers, 5 s later.
for h in range(1, 6):
    rec(tcp('10.0.0.67', 40000 + h, '192.168.2.%d' % h, 443, SYN))
    rec(tcp('192.168.2.%d' % h, 443, '10.0.0.67', 40000 + h, SYN_ACK))
for h in range(1, 12):
    rec(tcp('10.0.0.67', 41000, '192.168.3.%d' % h, 445, SYN))
rec(tcp('10.0.0.67', 41000, '192.168.3.99', 445, SYN), 50)
# Stealth probes.
for p in range(1, 5):
    rec(tcp('10.0.0.68', 40000, '192.168.1.6', p, FIN))
    rec(tcp('10.0.0.68', 40000, '192.168.1.6', p + 100, XMAS))
# SYN flood from many sources.
for s in range(1, 40):
    rec(tcp('172.16.%d.%d' % (s // 250, s % 250 + 1), 1000 + s, '192.168.1.7', 80, SYN))
# ARP: gratuitous storm, then the address moves to another MAC.
def arp(op, smac, sip, tip):
    a = struct.pack('>HHBBH', 1, 0x0800, 6, 4, op) + smac + ip4(sip) + b'\x00' * 6 + ip4(tip)
    return eth(a, 0x0806, src=smac, dst=b'\xff' * 6)
for _ in range(5):
    rec(arp(2, b'\x02\xaa\x00\x00\x00\x01', '192.168.1.1', '192.168.1.1'))
rec(arp(2, b'\x02\xbb\x00\x00\x00\x02', '192.168.1.1', '192.168.1.1'), 20)
# DNS: long, high-entropy names under one domain, and NXDOMAIN answers.
def dns(qid, name, flags=0x0100, an=0):
    q = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\x00' + struct.pack('>HH', 1, 1)
    return struct.pack('>HHHHHH', qid, flags, 1, an, 0, 0) + q
for i in range(6):
    name = 'x7q%dzk2v9w4m1p8r3t6y0u5a' % i + '.tunnel.example'
    rec(udp('10.0.0.69', 5000 + i, '192.168.1.53', 53, dns(i, name)))
    rec(udp('192.168.1.53', 53, '10.0.0.69', 5000 + i, dns(i, name, 0x8183)))
# Cleartext FTP log-in, and bytes that look like a Telnet prompt.
rec(tcp('10.0.0.70', 40001, '192.168.1.21', 21, PSH_ACK, b'USER anne\r\n'))
rec(tcp('10.0.0.70', 40001, '192.168.1.21', 21, PSH_ACK, b'PASS secret\r\n'))
rec(tcp('192.168.1.23', 23, '10.0.0.70', 40002, PSH_ACK, b'\x1b[31mPassword: \r\n'))
# A connection leaving the home network (bytes in a file: nothing is sent anywhere).
rec(tcp('10.0.0.71', 40003, '203.0.113.9', 443, SYN))
rec(tcp('203.0.113.9', 443, '10.0.0.71', 40003, SYN_ACK))
rec(tcp('10.0.0.71', 40003, '203.0.113.9', 443, PSH_ACK, b'hello'))
# A long pause: every window ends, then one more probe.
rec(tcp('10.0.0.66', 40000, '192.168.1.5', 31, SYN), 255)
sys.stdout.buffer.write(bytes(out))

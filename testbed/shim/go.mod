module k3sbox.local/testbed/shim

go 1.25

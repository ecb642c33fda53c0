"""controller: assigns IPs from IPAddressPools to LoadBalancer Services."""

//! pcap capture tap.
